"""A live copy of one job's objects on its cluster, kept by watches.

Used wherever the gateway follows a job as it changes (the watch stream, log follows
waiting for a rank to start, failover): one list-and-watch per resource, selected by
the job-id label, each change setting ``changed`` at once, so nothing polls and a pod's
new phase is seen within milliseconds of the apiserver recording it.
"""

from __future__ import annotations

import asyncio
import logging

from ..federation.watch import ResourceWatch, WatchForbidden
from ..jobs.labels import job_selector
from . import kube
from .model import JobObjects

log = logging.getLogger(__name__)


class JobMirror:
    """Watches every resource a job may have on one cluster (``resources``; see ``JobStore.resources``)."""

    def __init__(self, api, cluster: str, namespace: str, job_id: str, resources: list[kube.Resource],
                 events: bool = False):
        self.cluster, self.namespace, self.job_id = cluster, namespace, job_id
        self.changed = asyncio.Event()
        selector = kube.selector(job_selector(job_id))
        self.watches: dict[kube.Resource, ResourceWatch] = {}
        for resource in resources:
            self.watches[resource] = ResourceWatch(
                kube.lister(api, resource, namespace), label_selector=selector, on_change=self._on_change,
                name=f"{cluster}/{resource.plural}/{job_id}")
        if events:  # a Job's "FailedCreate" events say why its pods were never created
            self.watches[kube.EVENTS] = ResourceWatch(
                kube.lister(api, kube.EVENTS, namespace), field_selector="reason=FailedCreate",
                on_change=self._on_change, name=f"{cluster}/events/{job_id}")
        self._tasks: list[asyncio.Task] = []

    def _on_change(self, _kind: str, _obj: dict) -> None:
        self.changed.set()

    async def start(self, timeout: float = 10.0) -> None:
        """Start every watch and wait (up to ``timeout``) until each has listed once."""
        self._tasks = [asyncio.create_task(self._run(w)) for w in self.watches.values()]
        try:
            await asyncio.wait_for(asyncio.gather(*(w.synced.wait() for w in self.watches.values())), timeout)
        except asyncio.TimeoutError:
            log.warning("%s: job %s: some watches did not sync in %.0fs", self.cluster, self.job_id, timeout)

    @staticmethod
    async def _run(watch: ResourceWatch) -> None:
        try:
            await watch.run()
        except WatchForbidden as err:
            log.warning("cannot watch %s", err)
            watch.synced.set()

    async def stop(self) -> None:
        """Stop every watch."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def next_change(self, timeout: float) -> bool:
        """Wait until something changed since the last call (True), or ``timeout`` seconds (False)."""
        try:
            await asyncio.wait_for(self.changed.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        finally:
            self.changed.clear()
        return True

    def _items(self, resource: kube.Resource) -> list[dict]:
        items = list(self.watches[resource].objects.values())
        for obj in items:  # listed objects carry no kind of their own
            obj.setdefault("kind", resource.kind)
            obj.setdefault("apiVersion", resource.api_version)
        return items

    def objects(self) -> JobObjects:
        """The job as last seen."""
        job = JobObjects(self.job_id, self.cluster, self.namespace)
        for resource in self.watches:
            if resource is not kube.EVENTS:
                for obj in self._items(resource):
                    job.add(obj)
        return job

    def failed_creates(self) -> list[dict]:
        """FailedCreate events about this job's workloads (e.g. pods refused by a quota)."""
        watch = self.watches.get(kube.EVENTS)
        if watch is None:
            return []
        names = {w["metadata"]["name"] for r, other in self.watches.items() if r.kind in kube.WORKLOAD_KINDS
                 for w in other.objects.values()}
        return [e for e in watch.objects.values() if (e.get("involvedObject") or {}).get("name") in names]

    def empty(self) -> bool:
        """True once nothing of the job is left on this cluster."""
        return not any(w.objects for r, w in self.watches.items() if r is not kube.EVENTS)
