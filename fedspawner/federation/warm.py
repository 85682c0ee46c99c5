"""Warm GPU slots: placeholder pods the hub owns that hold GPUs for its users' next servers.

An admin declares slots (``c.Federation.warm_slots = [{"cluster": "onprem", "gpu":
"nvidia-a100-40gb", "count": 2, "priority_class": ""}]``). The hub keeps that many
placeholder pods per cluster and GPU type in its own namespace (namespace rights are
enough: no cluster-scoped object is created; ``priority_class`` names an existing,
low PriorityClass when the cluster's admin offers one). A Running placeholder proves the
GPUs are there and holds them against other tenants; on a spawn there, one placeholder
is deleted as the user's pod is created, so the user's pod takes its place; the pool then
replenishes it. Placeholders do not count as used in the hub's availability (they are
the hub's users' GPUs).

Pure: ``placeholder_manifest``, ``shortfall``, ``warm_counts`` (and ``warm_slots``, the declarations,
free of the Kubernetes client).
``WarmPool`` acts on the clusters.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

from kubernetes_asyncio import client
from kubernetes_asyncio.client.rest import ApiException

from . import gpus
from .model import GPU_TYPE_LABEL, GpuScheduling
from .unreachable import UNREACHABLE
from .warm_slots import WarmSlot

log = logging.getLogger(__name__)

WARM_LABEL = "fedspawner.dev/warm-slot"  # value: the canonical GPU type it holds
PLACEHOLDER_IMAGE = "python:3.11-slim"
HANDOVER_S = 10.0  # no new placeholder for a type while a user's pod takes the last one's place


def placeholder_manifest(slot: WarmSlot, sched: GpuScheduling, name: str) -> dict:
    """A pod that only holds ``slot.gpus_each`` GPUs of its type (sleeps; nothing else)."""
    count = str(slot.gpus_each)
    spec = {"terminationGracePeriodSeconds": 0, "restartPolicy": "Always",
            "tolerations": [dict(t) for t in sched.tolerations],
            "containers": [{"name": "placeholder", "image": PLACEHOLDER_IMAGE, "command": ["sleep", "infinity"],
                            "resources": {"limits": {sched.resource: count}, "requests": {sched.resource: count}}}]}
    if sched.node_affinity:
        spec["affinity"] = {"nodeAffinity": sched.node_affinity}
    if slot.priority_class:
        spec["priorityClassName"] = slot.priority_class
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": name, "labels": {WARM_LABEL: slot.gpu_type, GPU_TYPE_LABEL: slot.gpu_type,
                                 "app.kubernetes.io/managed-by": "fedspawner"}}, "spec": spec}


def warm_counts(pods: list[dict]) -> dict[str, dict[str, int]]:
    """``{gpu type: {"warm": Running placeholders, "pending": the others}}`` from JSON pods."""
    out: dict[str, dict[str, int]] = {}
    for pod in pods:
        meta, status = pod.get("metadata") or {}, pod.get("status") or {}
        gpu = (meta.get("labels") or {}).get(WARM_LABEL)
        if not gpu or meta.get("deletionTimestamp") or status.get("phase") in ("Failed", "Succeeded"):
            continue
        entry = out.setdefault(gpu, {"warm": 0, "pending": 0})
        entry["warm" if status.get("phase") == "Running" else "pending"] += 1
    return out


def shortfall(slot: WarmSlot, counts: dict[str, dict[str, int]], handing_over: int = 0) -> int:
    """How many placeholders to create for ``slot`` now; ``handing_over``: slots just given to
    a user's pod that is still being scheduled (a new placeholder would compete with it)."""
    have = counts.get(slot.gpu_type, {"warm": 0, "pending": 0})
    return max(slot.count - have["warm"] - have["pending"] - handing_over, 0)


class WarmPool:
    """Keeps the declared placeholders on every cluster and hands them over on spawns."""

    def __init__(self, registry, slots: list[WarmSlot], interval: float = 2.0):
        self.registry, self.slots, self.interval = registry, slots, interval
        self.pods: dict[str, list[dict]] = {}  # cluster -> its placeholders (JSON), as last listed
        self._task: asyncio.Task | None = None
        self._lock = asyncio.Lock()
        self._handovers: dict[tuple[str, str], list[float]] = {}  # (cluster, type) -> until when

    def _core(self, cluster: str) -> client.CoreV1Api:
        return client.CoreV1Api(self.registry.api(cluster))

    def _ns(self, cluster: str) -> str:
        return self.registry.members[cluster].namespace

    def start(self) -> None:
        if self.slots and self._task is None:
            self._task = asyncio.create_task(self._loop(), name="warm-slots")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def counts(self, cluster: str) -> dict[str, dict[str, int]]:
        return warm_counts(self.pods.get(cluster, []))

    async def _list(self, cluster: str) -> list[dict]:
        api = self.registry.api(cluster)
        pods = await client.CoreV1Api(api).list_namespaced_pod(self._ns(cluster), label_selector=WARM_LABEL)
        self.pods[cluster] = [api.sanitize_for_serialization(p) for p in pods.items]
        return self.pods[cluster]

    async def reconcile(self) -> None:
        """Create what is missing on every healthy cluster (one pass)."""
        async with self._lock:
            for cluster in sorted({s.cluster for s in self.slots}):
                if self.registry.inventories[cluster].healthy:
                    await self._reconcile(cluster)

    def _handing_over(self, cluster: str, gpu_type: str) -> int:
        now = time.monotonic()
        left = [t for t in self._handovers.get((cluster, gpu_type), []) if t > now]
        self._handovers[(cluster, gpu_type)] = left
        return len(left)

    async def _reconcile(self, cluster: str) -> None:
        try:
            counts = warm_counts(await self._list(cluster))
            for slot in (s for s in self.slots if s.cluster == cluster):
                for _ in range(shortfall(slot, counts, self._handing_over(cluster, slot.gpu_type))):
                    name = f"warm-{slot.gpu_type}-{uuid.uuid4().hex[:6]}"[:63]
                    manifest = placeholder_manifest(slot, self.registry.scheduling(cluster, slot.gpu_type), name)
                    await self._core(cluster).create_namespaced_pod(self._ns(cluster), manifest)
            await self._list(cluster)
        except (ApiException, gpus.GpuTypeError, *UNREACHABLE) as err:
            log.warning("warm slots on %s: %s", cluster, err)

    async def _loop(self) -> None:
        while True:
            await self.reconcile()
            await asyncio.sleep(self.interval)

    async def take(self, cluster: str, gpu_type: str | None, gpu_count: int) -> bool:
        """Delete one Running placeholder of ``gpu_type`` on ``cluster`` holding at least
        ``gpu_count`` GPUs (its GPUs go to the pod created next); True if one was handed over.
        The pool replenishes it on its next pass."""
        if not gpu_type or not any(s.cluster == cluster and s.gpu_type == gpu_type and s.gpus_each >= gpu_count
                                   for s in self.slots):
            return False
        async with self._lock:
            try:
                pods = [p for p in await self._list(cluster) if p["metadata"].get("labels", {}).get(WARM_LABEL)
                        == gpu_type and not p["metadata"].get("deletionTimestamp")]
            except (ApiException, *UNREACHABLE):
                return False
            running = [p for p in pods if (p.get("status") or {}).get("phase") == "Running"]
            if not running:
                return False
            # The one handed over, and any still-Pending placeholder of that type: it would
            # otherwise compete with the user's pod for the GPUs just freed.
            given = running[0]["metadata"]["name"]
            for pod in [running[0]] + [p for p in pods if p not in running]:
                try:
                    await self._core(cluster).delete_namespaced_pod(pod["metadata"]["name"], self._ns(cluster),
                                                                    grace_period_seconds=0)
                except ApiException as err:
                    if pod["metadata"]["name"] == given and err.status != 404:
                        return False
            self._handovers.setdefault((cluster, gpu_type), []).append(time.monotonic() + HANDOVER_S)
            await self._list(cluster)
            return True
