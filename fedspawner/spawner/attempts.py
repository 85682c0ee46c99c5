"""Pods of starts that did not finish: labelled while starting, kept once they serve.

Every pod a start creates (the spawner's own attempt and a hedged race's standby) carries
``ATTEMPT_LABEL`` with the attempt's id; once the server answers and the start returns,
the label is set to ``KEPT``. Any other pod with the label is left over from a start
that gave up on its cluster (it went silent, or a race was lost and the delete failed)
or that a stopped hub never finished. ``Sweeper`` deletes those on each cluster the
first time it answers in this process and again whenever it answers after being
unreachable, so an abandoned pod goes as soon as its cluster is back, also after a
hub restart: the label on the cluster is the record.

``leftovers`` decides (pure); ``keep``, ``sweep`` and ``Sweeper`` act on the clusters.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

from kubernetes_asyncio import client
from kubernetes_asyncio.client.rest import ApiException

log = logging.getLogger(__name__)

ATTEMPT_LABEL = "fedspawner.dev/attempt"
KEPT = "kept"
#: Seconds between checks of the clusters' health by the sweeper.
SWEEP_EVERY = 1.0
#: Seconds one list or delete of a sweep may take.
CALL_TIMEOUT = 10.0

#: (cluster, pod name) of every start running in this process: never a leftover.
ACTIVE: set[tuple[str, str]] = set()


def new_id() -> str:
    """A fresh attempt id (a label value)."""
    return uuid.uuid4().hex[:10]


def leftovers(pods: list[dict], active: set[tuple[str, str]], cluster: str,
              pod_name: str | None = None) -> list[tuple[str, str]]:
    """``(name, uid)`` of pods on ``cluster`` (pods as JSON) whose start did not finish: labelled,
    not kept, not being deleted and not started by this process now; only ``pod_name``'s when given."""
    out = []
    for pod in pods:
        meta = pod.get("metadata") or {}
        name = meta.get("name", "")
        if (meta.get("labels") or {}).get(ATTEMPT_LABEL, KEPT) == KEPT or meta.get("deletionTimestamp"):
            continue
        if (cluster, name) in active or (pod_name and name != pod_name):
            continue
        out.append((name, meta.get("uid", "")))
    return out


async def keep(api: client.ApiClient, namespace: str, name: str) -> None:
    """Mark a pod as the server a start kept (raises when its cluster does not answer)."""
    await asyncio.wait_for(client.CoreV1Api(api).patch_namespaced_pod(
        name, namespace, {"metadata": {"labels": {ATTEMPT_LABEL: KEPT}}}), CALL_TIMEOUT)


async def delete_pod(core: client.CoreV1Api, namespace: str, name: str, uid: str = "") -> None:
    """Delete one pod now, only that very pod when ``uid`` is given (404: already gone)."""
    body = client.V1DeleteOptions(grace_period_seconds=0,
                                  preconditions=client.V1Preconditions(uid=uid) if uid else None)
    try:
        await asyncio.wait_for(core.delete_namespaced_pod(name, namespace, body=body), CALL_TIMEOUT)
    except ApiException as err:
        if err.status not in (404, 409):  # 409: the name now belongs to a newer pod
            raise


async def sweep_cluster(registry, cluster: str, namespace: str, pod_name: str | None = None) -> list[str]:
    """Delete the leftovers on one cluster; returns their names (raises when it does not answer)."""
    api = registry.api(cluster)
    core = client.CoreV1Api(api)
    pods = await asyncio.wait_for(core.list_namespaced_pod(namespace, label_selector=ATTEMPT_LABEL),
                                  CALL_TIMEOUT)
    found = leftovers([api.sanitize_for_serialization(p) for p in pods.items], ACTIVE, cluster, pod_name)
    for name, uid in found:
        await delete_pod(core, namespace, name, uid)
        log.info("%s: deleted %s, left by a start that did not finish", cluster, name)
    return [name for name, _ in found]


async def sweep(registry, namespace_of, pod_name: str | None = None) -> list[tuple[str, str]]:
    """Delete leftovers on every healthy member; returns (cluster, pod) of what was deleted."""
    deleted = []
    for name, inventory in registry.inventories.items():
        if not inventory.healthy:
            continue
        try:
            deleted += [(name, pod) for pod in await sweep_cluster(registry, name, namespace_of(name), pod_name)]
        except (ApiException, asyncio.TimeoutError, OSError):
            continue  # an unreachable cluster is swept when it answers again
    return deleted


def abandon(cluster: str, namespace: str, pod: str, attempt: str) -> None:
    """Have the process's sweeper delete ``pod`` of ``attempt`` once ``cluster`` answers (a new
    process sweeps it by its label anyway)."""
    if Sweeper.instance is not None:
        Sweeper.instance.abandon(cluster, namespace, pod, attempt)


class Sweeper:
    """Sweeps each cluster when it first answers and whenever it answers again after silence;
    also deletes the exact pods ``abandon`` names (in any namespace) once their cluster answers."""

    #: The process's sweeper (see ``ensure``).
    instance: "Sweeper | None" = None

    def __init__(self, registry, namespace_of):
        self.registry, self.namespace_of = registry, namespace_of
        self.pending: set[str] = set(registry.inventories)  # clusters to sweep when they answer
        self.abandoned: dict[str, set[tuple[str, str, str]]] = {}  # cluster -> (namespace, pod, attempt id)
        self._task: asyncio.Task | None = None

    @classmethod
    def ensure(cls, registry, namespace_of) -> "Sweeper":
        """The process's sweeper for ``registry``, running."""
        if cls.instance is None or cls.instance.registry is not registry:
            if cls.instance is not None:
                cls.instance.stop()
            cls.instance = cls(registry, namespace_of)
        if cls.instance._task is None or cls.instance._task.done():
            cls.instance._task = asyncio.ensure_future(cls.instance._run())
        return cls.instance

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def abandon(self, cluster: str, namespace: str, pod: str, attempt: str) -> None:
        """A start gave up on ``pod``: delete it once ``cluster`` answers (if it still belongs
        to that attempt)."""
        self.abandoned.setdefault(cluster, set()).add((namespace, pod, attempt))

    async def _run(self) -> None:
        while True:
            for name, inventory in self.registry.inventories.items():
                if not inventory.healthy:
                    self.pending.add(name)
                elif name in self.pending or self.abandoned.get(name):
                    await self._sweep(name)
            await asyncio.sleep(SWEEP_EVERY)

    async def _sweep(self, cluster: str) -> None:
        try:
            if cluster in self.pending:
                await sweep_cluster(self.registry, cluster, self.namespace_of(cluster))
                self.pending.discard(cluster)
            for entry in list(self.abandoned.get(cluster, ())):
                await self._delete_abandoned(cluster, *entry)
                self.abandoned[cluster].discard(entry)
        except (ApiException, asyncio.TimeoutError, OSError) as err:
            log.info("%s: leftover pods not deleted yet (%s); trying again", cluster, err)

    async def _delete_abandoned(self, cluster: str, namespace: str, pod: str, attempt: str) -> None:
        if (cluster, pod) in ACTIVE:
            return  # a new start of the same server took the name
        core = client.CoreV1Api(self.registry.api(cluster))
        try:
            found = await asyncio.wait_for(core.read_namespaced_pod(pod, namespace), CALL_TIMEOUT)
        except ApiException as err:
            if err.status == 404:
                return
            raise
        if (found.metadata.labels or {}).get(ATTEMPT_LABEL) == attempt and not found.metadata.deletion_timestamp:
            await delete_pod(core, namespace, pod, found.metadata.uid)
            log.info("%s: deleted %s/%s, abandoned when the cluster stopped answering", cluster, namespace, pod)
