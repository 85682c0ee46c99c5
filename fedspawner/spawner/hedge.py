"""Hedged start: race the two best clusters, keep the first server that is Ready.

A hedged start creates the server's pod on the first candidate (the spawner's usual
attempt, with failover on events) and a standby copy on the second, then keeps the one
whose pod becomes Ready first and deletes the other at once. Both pods carry
``HEDGE_LABEL``; the winner's value is set to ``WON``, so any other pod with that label
is a leftover of a race the hub did not finish (it was stopped mid-race) and is swept:
for one server before it starts again, and for every server when the hub process first
uses the federation.

Pure parts (``hedge_pair``, ``pod_outcome``, ``leftovers``) decide; ``race`` and
``sweep`` act through the spawner and the clusters' APIs.
"""

from __future__ import annotations

import asyncio
import time
import uuid

from kubernetes_asyncio import client
from kubernetes_asyncio.client.rest import ApiException

from ..federation import failover

HEDGE_LABEL = "fedspawner.dev/hedge"
WON = "won"
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


def hedge_pair(candidates: list, accesses: dict[str, str]) -> tuple | None:
    """The two candidates to race: the best one and the next whose server the hub reaches
    without an ingress (an ingress route is made per cluster after the start)."""
    if len(candidates) < 2 or accesses.get(candidates[0].cluster) == "ingress":
        return None
    second = next((c for c in candidates[1:] if accesses.get(c.cluster) != "ingress"
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


def leftovers(pods: list[dict], racing: set[tuple[str, str]], cluster: str, pod_name: str | None = None) -> list[str]:
    """Names of hedge pods on ``cluster`` that no race owns: not the winner of a finished race,
    not part of a race running in this process; only ``pod_name``'s when given."""
    out = []
    for pod in pods:
        meta = pod.get("metadata") or {}
        name = meta.get("name", "")
        if (meta.get("labels") or {}).get(HEDGE_LABEL, WON) == WON or meta.get("deletionTimestamp"):
            continue
        if (cluster, name) in racing or (pod_name and name != pod_name):
            continue
        out.append(name)
    return out


# ---- acting on the clusters ---------------------------------------------------------

#: (cluster, pod name) of every race running in this process.
RACING: set[tuple[str, str]] = set()
_swept_once: list[bool] = [False]


def _json(api_client: client.ApiClient, obj) -> dict:
    return api_client.sanitize_for_serialization(obj)


async def sweep(registry, namespace_of, pod_name: str | None = None) -> list[tuple[str, str]]:
    """Delete hedge leftovers (see ``leftovers``) on every healthy member; returns what was deleted."""
    deleted = []
    for name, inventory in registry.inventories.items():
        if not inventory.healthy:
            continue
        api = registry.api(name)
        core, ns = client.CoreV1Api(api), namespace_of(name)
        try:
            pods = await asyncio.wait_for(core.list_namespaced_pod(ns, label_selector=HEDGE_LABEL), 10)
            for pod_name_left in leftovers([_json(api, p) for p in pods.items], RACING, name, pod_name):
                await core.delete_namespaced_pod(pod_name_left, ns, grace_period_seconds=0)
                deleted.append((name, pod_name_left))
        except (ApiException, asyncio.TimeoutError, OSError):
            continue  # an unreachable cluster is swept next time
    return deleted


async def sweep_once(registry, namespace_of) -> None:
    """The process-wide sweep, the first time a spawner of this process uses the federation."""
    if not _swept_once[0]:
        _swept_once[0] = True
        await sweep(registry, namespace_of)


class Standby:
    """The standby pod of one race, on its own cluster."""

    def __init__(self, registry, cluster: str, namespace: str, manifest):
        self.registry, self.cluster, self.namespace, self.manifest = registry, cluster, namespace, manifest
        self.name = manifest.metadata.name
        self.api = registry.api(cluster)
        self.core = client.CoreV1Api(self.api)
        self.created, self.created_at = False, 0.0

    async def create(self) -> None:
        RACING.add((self.cluster, self.name))
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

    async def mark_won(self) -> None:
        await self.core.patch_namespaced_pod(self.name, self.namespace,
                                             {"metadata": {"labels": {HEDGE_LABEL: WON}}})

    async def delete(self) -> None:
        """Delete the standby now (best effort: a leftover is swept later)."""
        RACING.discard((self.cluster, self.name))
        if not self.created:
            return
        try:
            await asyncio.wait_for(self.core.delete_namespaced_pod(self.name, self.namespace,
                                                                   grace_period_seconds=0), 10)
        except (ApiException, asyncio.TimeoutError, OSError):
            pass


def race_id() -> str:
    return uuid.uuid4().hex[:10]
