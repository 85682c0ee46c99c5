"""Every job on every member cluster, kept live by watches: what the jobs feed reads.

``JobIndex`` runs one list-and-watch per resource a job can have (the anchor ConfigMaps
as metadata only, pods, Jobs and the custom workloads the cluster serves) on each member
cluster, selected by the ``managed-by=fedspawner`` label. Each change wakes the waiters
of the job's owner (and the waiters for everyone's jobs) at once; a change of a
cluster's health wakes everyone. So a long-polling client learns of a pod's new phase
within milliseconds, and a change to one user's job never wakes another user.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict

from ..federation.registry import ClusterRegistry
from ..federation.watch import ResourceWatch, WatchForbidden
from ..jobs.labels import LABEL_JOB_ID, LABEL_MANAGED_BY, LABEL_OWNER, MANAGED_BY, owner_label_value
from . import kube
from .model import JobObjects, labels
from .store import JobStore, newest

log = logging.getLogger(__name__)

#: The waiters' key for "every user's jobs" (admins' ``all=1``).
EVERYONE = ""


class JobIndex:
    """A live copy of every fedspawner job's objects on every member cluster."""

    def __init__(self, registry: ClusterRegistry, store: JobStore):
        self.registry = registry
        self.store = store
        self.watches: dict[str, list[tuple[kube.Resource, ResourceWatch]]] = {}
        self._events: dict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self._tasks: list[asyncio.Task] = []
        self._health: tuple = ()

    # ---- running -------------------------------------------------------------------------------
    def start(self) -> None:
        """Start watching every member cluster, and their health (idempotent)."""
        if self._tasks:
            return
        self._health = self._health_now()
        self._tasks = [asyncio.create_task(self._watch(name), name=f"index-{name}")
                       for name in self.registry.members]
        self._tasks.append(asyncio.create_task(self._follow_health(), name="index-health"))

    async def stop(self) -> None:
        """Stop every watch."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def _discovered(self, cluster: str) -> None:
        """Wait until the cluster's API discovery answers (a cluster down at start-up has not told
        which custom workloads it serves yet)."""
        delay = 0.5
        while True:
            try:
                await self.store.discovery.served(cluster)
                return
            except Exception as err:  # noqa: BLE001 - unreachable for now: try again later
                log.debug("%s: discovery for the jobs feed failed (%s); retrying in %.0fs", cluster, err, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)

    async def _watch(self, cluster: str) -> None:
        await self._discovered(cluster)
        api, namespace = self.registry.api(cluster), self.store.namespace(cluster)
        selector = kube.selector({LABEL_MANAGED_BY: MANAGED_BY})
        pairs = [(resource, ResourceWatch(
                     kube.lister(api, resource, namespace, metadata_only=resource is kube.CONFIGMAPS),
                     label_selector=selector, name=f"{cluster}/{resource.plural}/index", on_change=self._on_change))
                 for resource in await self.store.resources(cluster)]
        self.watches[cluster] = pairs
        await asyncio.gather(*(self._run(watch) for _, watch in pairs))

    @staticmethod
    async def _run(watch: ResourceWatch) -> None:
        """Run one watch; one the credential may not make lists nothing (rather than never syncing)."""
        try:
            await watch.run()
        except WatchForbidden as err:
            log.warning("the jobs feed cannot watch %s", err)
            watch.objects = {}
            watch.synced.set()

    def _on_change(self, kind: str, obj: dict) -> None:
        owner = labels(obj).get(LABEL_OWNER)
        self._wake(None if kind == "RELIST" or not owner else owner)

    def _wake(self, owner_label: str | None) -> None:
        """Wake the waiters of ``owner_label`` (everyone's when None) and those of all jobs."""
        keys = list(self._events) if owner_label is None else [owner_label, EVERYONE]
        for key in keys:
            event = self._events.pop(key, None)
            if event is not None:
                event.set()

    def _health_now(self) -> tuple:
        return tuple((name, inv.healthy) for name, inv in self.registry.inventories.items())

    async def _follow_health(self) -> None:
        """Wake everyone when a cluster goes down or comes back (their ``unavailable`` changes)."""
        while True:
            await self.registry.wait_for_change(self.registry.version, 30.0)
            health = self._health_now()
            if health != self._health:
                self._health = health
                self._wake(None)
            await asyncio.sleep(0.05)  # inventories change often; health is read at most 20 times a second

    # ---- reading -------------------------------------------------------------------------------
    async def wait(self, owner: str | None, timeout: float) -> bool:
        """Wait until a job of ``owner`` (anyone's when None) may have changed, or ``timeout``."""
        key = EVERYONE if owner is None else owner_label_value(owner)
        try:
            await asyncio.wait_for(self._events[key].wait(), timeout)
        except asyncio.TimeoutError:
            return False
        return True

    def synced(self, cluster: str) -> bool:
        """Whether every watch of ``cluster`` has listed at least once."""
        watches = self.watches.get(cluster)
        return bool(watches) and all(watch.synced.is_set() for _, watch in watches)

    def jobs(self, owner: str | None) -> tuple[list[JobObjects], list[dict]]:
        """The jobs of ``owner`` (everyone's when None) as last seen on the healthy clusters, and the
        clusters left out with the reason (as ``JobStore.list`` answers)."""
        wanted = None if owner is None else owner_label_value(owner)
        clusters, skipped = self.store.healthy()
        by_id: dict[str, list[JobObjects]] = defaultdict(list)
        for cluster in clusters:
            if not self.synced(cluster):
                skipped.append({"cluster": cluster, "reason": "still listing its jobs"})
                continue
            found: dict[str, JobObjects] = {}
            namespace = self.store.namespace(cluster)
            for resource, watch in self.watches[cluster]:
                for obj in watch.objects.values():
                    meta_labels = labels(obj)
                    job_id = meta_labels.get(LABEL_JOB_ID)
                    if not job_id or (wanted is not None and meta_labels.get(LABEL_OWNER) != wanted):
                        continue
                    typed = {**obj, "kind": resource.kind, "apiVersion": resource.api_version}
                    found.setdefault(job_id, JobObjects(job_id, cluster, namespace)).add(typed)
            for job_id, job in found.items():
                by_id[job_id].append(job)
        jobs = [newest(copies) for copies in by_id.values()]
        if owner is not None:  # labels are lossy; the annotation holds the exact name
            jobs = [job for job in jobs if job.owner == owner]
        return jobs, skipped
