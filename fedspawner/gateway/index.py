"""Every job on every member cluster, kept live by one set of watches shared by every consumer.

``JobIndex`` runs one list-and-watch per resource a job can have (the anchor ConfigMaps
as metadata only, pods, Jobs and the custom workloads the cluster serves) on each member
cluster, selected by the ``managed-by=fedspawner`` label, plus one watch of the
namespace's ``FailedCreate`` events. Objects are indexed by job id, so every consumer of
one job (a watch stream, a log follow waiting for a rank, the failover queue) reads the
same copy through a ``JobFollow`` instead of opening watches of its own: the apiserver
sees a fixed number of watches however many jobs and followers there are.

Each change wakes the job's followers and the waiters of its owner (and those of
everyone's jobs) at once, and tells the listeners (the failover queue) which job
changed; a relist or a change of a cluster's health wakes everyone. So a client learns
of a pod's new phase within milliseconds, and a change to one user's job never wakes
another user.

A cluster's watches never give up (see ``federation.watch``): until each has listed
once, lists leave the cluster out with the reason (``sync_problem``: still listing, or
what keeps it from listing, such as a 403 while the hub's RoleBinding is away), and it
joins by itself once the cause is gone.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial

from ..federation.registry import ClusterRegistry
from ..federation.watch import ResourceWatch
from ..jobs.labels import LABEL_JOB_ID, LABEL_MANAGED_BY, LABEL_OWNER, MANAGED_BY, owner_label_value
from . import kube
from .model import JobObjects, labels
from .store import JobStore, newest
from .views import JobViews

log = logging.getLogger(__name__)

#: The waiters' key for "every user's jobs" (admins' ``all=1``).
EVERYONE = ""

#: ``(cluster, job_id)`` of a change; job_id None: anything on the cluster may have changed.
Listener = Callable[[str, "str | None"], None]


class JobFollow:
    """One consumer's live view of one job on one cluster, read from the shared index."""

    def __init__(self, index: "JobIndex", cluster: str, job_id: str):
        self.index, self.cluster, self.job_id = index, cluster, job_id
        self.changed = asyncio.Event()

    def objects(self) -> JobObjects:
        """The job on this cluster as last seen."""
        return self.index.job(self.cluster, self.job_id)

    def empty(self) -> bool:
        """True while nothing of the job is on this cluster."""
        return not self.index.has(self.cluster, self.job_id)

    def failed_creates(self) -> list[dict]:
        """FailedCreate events about this job's workloads (e.g. pods refused by a quota)."""
        return self.index.failed_creates(self.cluster, self.job_id)

    async def next_change(self, timeout: float) -> bool:
        """Wait until something changed since the last call (True), or ``timeout`` seconds (False)."""
        try:
            await asyncio.wait_for(self.changed.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        finally:
            self.changed.clear()
        return True


class JobIndex:
    """A live copy of every fedspawner job's objects on every member cluster, by job id."""

    def __init__(self, registry: ClusterRegistry, store: JobStore):
        self.registry = registry
        self.store = store
        self.watches: dict[str, list[tuple[kube.Resource, ResourceWatch]]] = {}
        self.events: dict[str, ResourceWatch] = {}
        self._jobs: dict[str, dict[str, dict[tuple[str, str], dict]]] = defaultdict(dict)
        #: Each job copy as ``jobs`` hands it out, with its owner labels; rebuilt after it changed.
        self._built: dict[str, dict[str, tuple[JobObjects, frozenset[str]]]] = defaultdict(dict)
        self._follows: dict[tuple[str, str], set[JobFollow]] = defaultdict(set)
        self._listeners: list[Listener] = []
        self._waiters: dict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self._started: dict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self._tasks: list[asyncio.Task] = []
        self._health: tuple = ()
        self._discovery_errors: dict[str, str] = {}
        self.views = JobViews()

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

    def listen(self, listener: Listener) -> None:
        """Call ``listener(cluster, job_id)`` on every change (job_id None: the whole cluster)."""
        self._listeners.append(listener)

    async def _discovered(self, cluster: str) -> None:
        """Wait until the cluster's API discovery answers (a cluster down at start-up has not told
        which custom workloads it serves yet)."""
        delay = 0.5
        while True:
            try:
                await self.store.discovery.served(cluster)
                self._discovery_errors.pop(cluster, None)
                return
            except Exception as err:  # noqa: BLE001 - unreachable for now: try again later
                why = f"its API discovery failed ({type(err).__name__}: {err})" if str(err) else \
                    f"its API discovery failed ({type(err).__name__})"
                if cluster not in self._discovery_errors:
                    log.warning("%s: %s; the jobs index retries until it answers", cluster, why)
                self._discovery_errors[cluster] = why
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)

    async def _watch(self, cluster: str) -> None:
        await self._discovered(cluster)
        api, namespace = self.registry.api(cluster), self.store.namespace(cluster)
        events = ResourceWatch(kube.lister(api, kube.EVENTS, namespace), field_selector="reason=FailedCreate",
                               name=f"{cluster}/events/index", transform=_slim, forbidden_is_empty=False)
        events.on_change = partial(self._on_event, cluster)
        self.watches[cluster], self.events[cluster] = [], events
        running = [asyncio.create_task(events.run())]
        try:
            while True:  # workloads an operator installed later get their watch at the next discovery
                running += [asyncio.create_task(w.run()) for w in await self._new_watches(cluster)]
                self._started[cluster].set()
                await asyncio.sleep(self.store.discovery.ttl)
        finally:
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)

    async def _new_watches(self, cluster: str) -> list[ResourceWatch]:
        """Watches for the job resources ``cluster`` serves that are not watched yet (added to
        ``watches``; one whose resource goes away lists nothing and stays)."""
        api, namespace = self.registry.api(cluster), self.store.namespace(cluster)
        selector = kube.selector({LABEL_MANAGED_BY: MANAGED_BY})
        watched = {resource for resource, _ in self.watches[cluster]}
        added = []
        for resource in await self.store.resources(cluster):
            if resource in watched:
                continue
            watch = ResourceWatch(kube.lister(api, resource, namespace, metadata_only=resource is kube.CONFIGMAPS),
                                  label_selector=selector, name=f"{cluster}/{resource.plural}/index",
                                  transform=_slim, forbidden_is_empty=resource in kube.CUSTOM)
            watch.on_change = partial(self._on_change, cluster, resource, watch)
            self.watches[cluster].append((resource, watch))
            added.append(watch)
        return added

    # ---- keeping the index ---------------------------------------------------------------------
    def _on_change(self, cluster: str, resource: kube.Resource, watch: ResourceWatch, kind: str, obj: dict) -> None:
        jobs = self._jobs[cluster]
        if kind == "RELIST":
            self._reindex(cluster, resource, watch)
            self._changed(cluster, None, None)
            return
        meta_labels = labels(obj)
        job_id = meta_labels.get(LABEL_JOB_ID)
        if not job_id:  # not a job's (e.g. a notebook server's pod): only its owner's view may change
            self._wake(meta_labels.get(LABEL_OWNER))
            return
        key = (resource.kind, ResourceWatch.key(obj))
        self._built[cluster].pop(job_id, None)
        if kind == "DELETED":
            objects = jobs.get(job_id, {})
            objects.pop(key, None)
            if not objects:
                jobs.pop(job_id, None)
                self.views.forget(cluster, job_id)
        else:
            jobs.setdefault(job_id, {})[key] = _typed(obj, resource)
        self._changed(cluster, job_id, meta_labels.get(LABEL_OWNER))

    def _reindex(self, cluster: str, resource: kube.Resource, watch: ResourceWatch) -> None:
        """Replace every object of ``resource`` on ``cluster`` by what the watch listed."""
        jobs = self._jobs[cluster]
        self._built[cluster].clear()
        for job_id in list(jobs):
            objects = jobs[job_id]
            for key in [k for k in objects if k[0] == resource.kind]:
                del objects[key]
            if not objects:
                del jobs[job_id]
                self.views.forget(cluster, job_id)
        for obj in watch.objects.values():
            job_id = labels(obj).get(LABEL_JOB_ID)
            if job_id:
                jobs.setdefault(job_id, {})[(resource.kind, ResourceWatch.key(obj))] = _typed(obj, resource)

    def _on_event(self, cluster: str, kind: str, event: dict) -> None:
        if kind == "RELIST":
            self._changed(cluster, None, None)
            return
        name = (event.get("involvedObject") or {}).get("name")
        for job_id, objects in self._jobs[cluster].items():
            if any(k[0] in kube.WORKLOAD_KINDS and obj["metadata"]["name"] == name for k, obj in objects.items()):
                self._changed(cluster, job_id, None)
                return

    def _changed(self, cluster: str, job_id: str | None, owner_label: str | None) -> None:
        """Wake the job's followers (every follower on the cluster when None), its owner's waiters
        (everyone's when unknown) and the listeners."""
        if job_id is None:
            for (on, _), follows in self._follows.items():
                if on == cluster:
                    for follow in follows:
                        follow.changed.set()
        else:
            for follow in self._follows.get((cluster, job_id), ()):
                follow.changed.set()
        self._wake(owner_label)
        for listener in self._listeners:
            listener(cluster, job_id)

    def _wake(self, owner_label: str | None) -> None:
        """Wake the waiters of ``owner_label`` (everyone's when None) and those of all jobs."""
        keys = list(self._waiters) if owner_label is None else [owner_label, EVERYONE]
        for key in keys:
            event = self._waiters.pop(key, None)
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
            await asyncio.wait_for(self._waiters[key].wait(), timeout)
        except asyncio.TimeoutError:
            return False
        return True

    def sync_problem(self, cluster: str) -> str:
        """Why ``cluster``'s jobs are not listed yet, for people: what keeps its watches from listing
        (they retry by themselves), else "still listing its jobs"."""
        errors = [f"{watch.name.split('/')[1]}: {watch.error}" for watch in self._cluster_watches(cluster)
                  if watch.error and not watch.synced.is_set()]
        if cluster in self._discovery_errors:
            errors.insert(0, self._discovery_errors[cluster])
        if errors:
            return f"cannot list its jobs ({'; '.join(errors)}); retrying"
        return "still listing its jobs"

    def _cluster_watches(self, cluster: str) -> list[ResourceWatch]:
        events = self.events.get(cluster)
        return [w for _, w in self.watches.get(cluster, [])] + ([events] if events else [])

    def synced(self, cluster: str) -> bool:
        """Whether every watch of ``cluster`` has listed at least once."""
        watches = self.watches.get(cluster)
        return bool(watches) and all(watch.synced.is_set() for _, watch in watches) \
            and self.events[cluster].synced.is_set()

    async def until_synced(self, cluster: str, timeout: float) -> bool:
        """Wait (up to ``timeout``) until every watch of ``cluster`` has listed once."""
        async def synced() -> None:
            await self._started[cluster].wait()
            await asyncio.gather(*(w.synced.wait() for _, w in self.watches[cluster]),
                                 self.events[cluster].synced.wait())
        try:
            await asyncio.wait_for(synced(), timeout)
        except asyncio.TimeoutError:
            return False
        return True

    def has(self, cluster: str, job_id: str) -> bool:
        """Whether anything of the job is on ``cluster``."""
        return bool(self._jobs.get(cluster, {}).get(job_id))

    def job(self, cluster: str, job_id: str) -> JobObjects:
        """The job's objects on ``cluster`` as last seen (none when it is not there)."""
        job = JobObjects(job_id, cluster, self.store.namespace(cluster))
        for obj in self._jobs.get(cluster, {}).get(job_id, {}).values():
            job.add(obj)
        return job

    def find(self, job_id: str) -> JobObjects | None:
        """Where the job is now (its newest copy) on the healthy, synced clusters; None when the index
        does not show it there."""
        clusters, _ = self.store.healthy()
        copies = [self.job(cluster, job_id) for cluster in clusters
                  if self.synced(cluster) and self.has(cluster, job_id)]
        return newest(copies) if copies else None

    def job_ids(self, cluster: str) -> list[str]:
        """Every job with objects on ``cluster``."""
        return list(self._jobs.get(cluster, {}))

    def failed_creates(self, cluster: str, job_id: str) -> list[dict]:
        """FailedCreate events about the job's workloads on ``cluster``."""
        watch = self.events.get(cluster)
        objects = self._jobs.get(cluster, {}).get(job_id, {})
        names = {obj["metadata"]["name"] for key, obj in objects.items() if key[0] in kube.WORKLOAD_KINDS}
        if watch is None or not names:
            return []
        return [e for e in watch.objects.values() if (e.get("involvedObject") or {}).get("name") in names]

    @asynccontextmanager
    async def follow(self, cluster: str, job_id: str, *, sync_timeout: float = 10.0,
                     appear_timeout: float = 5.0) -> AsyncIterator[JobFollow]:
        """A ``JobFollow`` of one job on ``cluster``, once the cluster's watches have listed and (up to
        ``appear_timeout``) the job shows in them: a job just created, or found by a fresh list,
        may reach the watches a moment later."""
        follow = JobFollow(self, cluster, job_id)
        self._follows[(cluster, job_id)].add(follow)
        try:
            if not await self.until_synced(cluster, sync_timeout):
                log.warning("%s: the jobs index did not sync in %.0fs", cluster, sync_timeout)
            await _until(follow, True, appear_timeout)
            yield follow
        finally:
            follows = self._follows[(cluster, job_id)]
            follows.discard(follow)
            if not follows:
                del self._follows[(cluster, job_id)]

    async def until(self, cluster: str, job_id: str, present: bool, timeout: float = 5.0) -> bool:
        """Wait (up to ``timeout``) until the index shows the job on ``cluster`` (``present``) or shows
        nothing of it; whether it does. Submitting and cancelling wait for it, so a list made right
        after either shows what it did."""
        async with self.follow(cluster, job_id, appear_timeout=0) as follow:
            return await _until(follow, present, timeout)

    def jobs(self, owner: str | None) -> tuple[list[JobObjects], list[dict]]:
        """The jobs of ``owner`` (everyone's when None) as last seen on the healthy clusters, and the
        clusters left out with the reason (as ``JobStore.list`` answers). A job copy that did not
        change since the last call is the same ``JobObjects`` (callers only read them), so views
        of it are found again at once (``JobViews``)."""
        wanted = None if owner is None else owner_label_value(owner)
        clusters, skipped = self.store.healthy()
        by_id: dict[str, list[JobObjects]] = defaultdict(list)
        for cluster in clusters:
            if not self.synced(cluster):
                skipped.append({"cluster": cluster, "reason": self.sync_problem(cluster)})
                continue
            for job_id in self._jobs.get(cluster, {}):
                job, owners = self._copy(cluster, job_id)
                if wanted is None or wanted in owners:
                    by_id[job_id].append(job)
        jobs = [copies[0] if len(copies) == 1 else newest(copies) for copies in by_id.values()]
        if owner is not None:  # labels are lossy; the annotation holds the exact name
            jobs = [job for job in jobs if job.owner == owner]
        return jobs, skipped

    def _copy(self, cluster: str, job_id: str) -> tuple[JobObjects, frozenset[str]]:
        """The job's copy on ``cluster`` and its owner labels, built once per change."""
        built = self._built[cluster].get(job_id)
        if built is None:
            objects = self._jobs[cluster][job_id].values()
            job = JobObjects(job_id, cluster, self.store.namespace(cluster))
            for obj in objects:
                job.add(obj)
            owners = frozenset(filter(None, (labels(o).get(LABEL_OWNER) for o in objects)))
            built = self._built[cluster][job_id] = (job, owners)
        return built


async def _until(follow: JobFollow, present: bool, timeout: float) -> bool:
    """Wait (up to ``timeout``) until ``follow`` shows the job (``present``) or nothing of it."""
    deadline = asyncio.get_running_loop().time() + timeout
    while follow.empty() == present:
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0 or not await follow.next_change(left):
            return follow.empty() != present
    return True


def _slim(obj: dict) -> dict:
    """``obj`` without its ``managedFields`` (server-side apply bookkeeping no consumer reads; often
    half of a pod's size)."""
    (obj.get("metadata") or {}).pop("managedFields", None)
    return obj


def _typed(obj: dict, resource: kube.Resource) -> dict:
    """``obj`` with its resource's kind (listed and metadata-only objects carry none of their own)."""
    return {**obj, "kind": resource.kind, "apiVersion": resource.api_version}
