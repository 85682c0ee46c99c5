"""Hedged start: race the two best clusters, keep the first server that is Ready.

A hedged start creates the server's pod on the first candidate (the spawner's usual
attempt, with failover on events) and a standby copy on the second, then keeps the one
whose pod becomes Ready first and deletes the other at once. Both pods carry the race's
id as their attempt label (``attempts``): only the winner is marked kept, so a loser the
hub could not delete (it was stopped mid-race, say) is swept as any unfinished start is.

Pure parts (``hedge_pair``, ``pod_outcome``) decide; ``Standby`` and ``hedge_race.race``
act through the spawner and the clusters' APIs.
"""

from __future__ import annotations

import asyncio
import time

from kubernetes_asyncio import client
from kubernetes_asyncio.client.rest import ApiException

from ..federation import failover
from . import attempts

PENDING, READY, FAILED = "pending", "ready", "failed"


# ---- decisions (pure) ------------------------------------------------------------

def hedge_enabled(profile: dict | None, admin_default: bool) -> bool:
    """A profile's ``hedge`` setting wins; without one, the admin's default applies."""
    value = (profile or {}).get("hedge")
    return admin_default if value is None else bool(value)


def why_not_hedged(*, explicit_cluster: bool, candidates: int, storage: bool, exposed: bool) -> str:
    """Why a start that asked for hedging runs on one cluster at a time, or "" to hedge."""
    if explicit_cluster:
        return "a cluster was chosen explicitly"
    if candidates < 2:
        return "only one cluster can run it"
    if storage:
        return "its persistent volume lives on one cluster"
    if exposed:
        return "it needs a Service or certificates, which are made for one cluster"
    return ""


def hedge_pair(candidates: list, hedgeable: dict[str, bool]) -> tuple | None:
    """The two candidates to race: the best one and the next one whose access mode can be
    raced (``hedgeable``, by cluster: an ingress route is made per cluster after the start)."""
    if len(candidates) < 2 or not hedgeable.get(candidates[0].cluster, True):
        return None
    second = next((c for c in candidates[1:] if hedgeable.get(c.cluster, True)
                   and c.cluster != candidates[0].cluster), None)
    return (candidates[0], second) if second else None


def pod_outcome(pod: dict | None, events: list[dict] = ()) -> tuple[str, str]:
    """(``ready`` | ``pending`` | ``failed``, reason) for the standby pod (a pod as JSON)."""
    if pod is None:
        return FAILED, "its pod is gone"
    meta, status = pod.get("metadata") or {}, pod.get("status") or {}
    if meta.get("deletionTimestamp"):
        return FAILED, "its pod is being deleted"
    if status.get("phase") in ("Failed", "Succeeded"):
        return FAILED, f"its pod ended ({status['phase']})"
    for event in events:
        reason = failover.reason_for_event(event)
        if reason:
            return FAILED, reason
    for cs in status.get("containerStatuses") or []:
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in failover.IMAGE_PULL_REASONS:
            return FAILED, "the server's image cannot be pulled there"
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
    if ready and status.get("phase") == "Running" and status.get("podIP"):
        return READY, ""
    return PENDING, ""


# ---- acting on the clusters ---------------------------------------------------------

def _json(api_client: client.ApiClient, obj) -> dict:
    return api_client.sanitize_for_serialization(obj)


class Standby:
    """The standby pod of one race, on its own cluster."""

    def __init__(self, registry, cluster: str, namespace: str, manifest, attempt: str):
        self.registry, self.cluster, self.namespace, self.manifest = registry, cluster, namespace, manifest
        self.attempt = attempt
        self.name = manifest.metadata.name
        self.api = registry.api(cluster)
        self.core = client.CoreV1Api(self.api)
        self.created, self.created_at = False, 0.0

    async def create(self) -> None:
        attempts.ACTIVE.add((self.cluster, self.name))
        try:
            await self.core.delete_namespaced_pod(self.name, self.namespace, grace_period_seconds=0)
        except ApiException as err:
            if err.status != 404:
                raise
        else:  # an earlier pod of this name: wait until it is gone
            for _ in range(100):
                try:
                    await self.core.read_namespaced_pod(self.name, self.namespace)
                except ApiException as err:
                    if err.status == 404:
                        break
                    raise
                await asyncio.sleep(0.1)
        self.created_at = time.monotonic()
        await self.core.create_namespaced_pod(self.namespace, self.manifest)
        self.created = True

    async def outcome(self) -> str:
        """Wait until the standby is Ready (returns "") or fails (raises Failover)."""
        inventory = self.registry.inventories[self.cluster]
        while True:
            if not inventory.healthy:
                raise failover.Failover(inventory.health_reason or "cluster unreachable")
            try:
                pod = _json(self.api, await self.core.read_namespaced_pod(self.name, self.namespace))
                events = await self.core.list_namespaced_event(
                    self.namespace, field_selector=f"involvedObject.name={self.name},involvedObject.kind=Pod")
                mine = [e for e in _json(self.api, events.items)
                        if (e.get("involvedObject") or {}).get("uid") == pod["metadata"].get("uid")]
            except ApiException as err:
                reason = failover.reason_for_exception(err)
                if err.status == 404:
                    raise failover.Failover("its pod is gone") from None
                raise failover.Failover(reason or f"the apiserver answered {err.status}") from None
            state, reason = pod_outcome(pod, mine)
            if state == READY:
                return ""
            if state == FAILED:
                raise failover.Failover(reason)
            await asyncio.sleep(0.1)

    async def keep(self) -> None:
        """Mark the standby as the server kept (raises when its cluster does not answer)."""
        await attempts.keep(self.api, self.namespace, self.name)
        attempts.ACTIVE.discard((self.cluster, self.name))

    async def delete(self) -> None:
        """Delete the standby now (best effort: a leftover is swept later)."""
        attempts.ACTIVE.discard((self.cluster, self.name))
        if not self.created:
            return
        try:
            await attempts.delete_pod(self.core, self.namespace, self.name)
        except (ApiException, asyncio.TimeoutError, OSError):
            attempts.abandon(self.cluster, self.namespace, self.name, self.attempt)
