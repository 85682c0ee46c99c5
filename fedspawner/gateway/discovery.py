"""Which job backends each member cluster offers, found by API discovery.

A cluster offers a Kubeflow backend when its apiserver serves the CRD's resource
(``GET /apis`` and ``GET /apis/<group>/<version>``: discovery, which every
authenticated credential may read, so the namespace-scoped one suffices; listing
CRDs would need a cluster-wide permission the gateway rarely has). Answers are
cached per cluster for ``ttl`` seconds, so an operator installed later is picked up.
Views that must not wait on a slow apiserver (the clusters feed) read ``served_now``: once
a cluster was discovered, a stale answer comes at once and is refreshed in the background.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Callable

from kubernetes_asyncio import client

from ..jobs.render import backends_for
from . import kube

log = logging.getLogger(__name__)


class BackendDiscovery:
    """Served custom resources per cluster (``<plural>.<group>``), cached."""

    def __init__(self, api_for: Callable[[str], client.ApiClient], ttl: float = 60.0):
        self.api_for = api_for
        self.ttl = ttl
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._refreshes: set[asyncio.Task] = set()

    def forget(self, cluster: str) -> None:
        """Drop the cached answer (e.g. after the cluster refused a custom resource)."""
        self._cache.pop(cluster, None)

    async def served(self, cluster: str) -> frozenset[str]:
        """The job-related custom resources ``cluster`` serves now."""
        cached = self._cache.get(cluster)
        if cached and time.monotonic() - cached[0] < self.ttl:
            return cached[1]
        lock = self._locks.setdefault(cluster, asyncio.Lock())
        async with lock:
            cached = self._cache.get(cluster)
            if cached and time.monotonic() - cached[0] < self.ttl:
                return cached[1]
            found = await self._discover(self.api_for(cluster))
            self._cache[cluster] = (time.monotonic(), found)
            return found

    async def served_now(self, cluster: str) -> frozenset[str]:
        """What ``cluster`` serves, without waiting once it was discovered: a stale answer is
        returned at once and refreshed in the background (a stalled apiserver then delays no one)."""
        cached = self._cache.get(cluster)
        if cached is None:
            return await self.served(cluster)
        lock = self._locks.setdefault(cluster, asyncio.Lock())
        if time.monotonic() - cached[0] >= self.ttl and not lock.locked():
            task = asyncio.create_task(self._refresh(cluster))
            self._refreshes.add(task)
            task.add_done_callback(self._refreshes.discard)
        return cached[1]

    async def _refresh(self, cluster: str) -> None:
        try:
            await self.served(cluster)
        except Exception as err:  # noqa: BLE001 - the stale answer stays; the next read tries again
            log.debug("discovery of %s failed: %s", cluster, err)

    async def backends(self, cluster: str, kind: str) -> list[str]:
        """The backends that can run ``kind`` on ``cluster``, best first."""
        return backends_for(kind, await self.served(cluster))

    @staticmethod
    async def _discover(api: client.ApiClient) -> frozenset[str]:
        groups = await kube.request(api, "GET", "/apis", timeout=10)
        versions = {g["name"]: {v["version"] for v in g.get("versions", [])}
                    for g in groups.get("groups", [])}
        wanted = [r for r in kube.CUSTOM if r.version in versions.get(r.group, ())]

        async def resources(group_version: str) -> set[str]:
            answer = await kube.request(api, "GET", f"/apis/{group_version}", timeout=10)
            return {r["name"] for r in answer.get("resources", []) if "/" not in r["name"]}

        served: set[str] = set()
        group_versions = sorted({r.api_version for r in wanted})
        answers = await asyncio.gather(*(resources(gv) for gv in group_versions), return_exceptions=True)
        by_gv = dict(zip(group_versions, answers))
        for resource in wanted:
            answer = by_gv[resource.api_version]
            if isinstance(answer, BaseException):
                log.warning("discovery of %s failed: %s", resource.api_version, answer)
            elif resource.plural in answer:
                served.add(resource.crd)
        return frozenset(served)
