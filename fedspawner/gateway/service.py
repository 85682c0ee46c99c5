"""What the gateway does, independent of HTTP: the operations the REST handlers call.

``GatewayService`` holds the federation registry (one API client per member cluster),
backend discovery, the job store and the submitter, checks who may act on which job,
and keeps a failover guard running for every job still waiting for its pods.
"""

from __future__ import annotations

import asyncio
import logging
import time

from ..federation.budgets import Holding, with_queued
from ..federation.registry import ClusterRegistry
from ..federation.views import cluster_json
from ..jobs.fields import JOB_STATES
from ..jobs.options import render_schema, version_of
from ..jobs.render import backends_for
from ..jobs.spec import KINDS
from . import logs
from .auth import Authenticator, Caller
from .cancelling import Cancels, cancelling_view
from .config import Gateway
from .discovery import BackendDiscovery
from .errors import BadRequest, Forbidden
from .failover import FailoverQueue, cancelling
from .feed import SharedProgress
from .hedging import Hedges
from .identity import resubmission
from .index import JobIndex
from .lease import ClusterLeases
from .model import JobObjects
from .queueing import QueueBoard
from .status import job_view
from .store import JobStore
from .submit import Submitter
from .views import gpu_naming

log = logging.getLogger(__name__)


class GatewayService:
    """The gateway's operations on behalf of authenticated callers."""

    def __init__(self, registry: ClusterRegistry, settings: Gateway, auth: Authenticator):
        self.registry = registry
        self.settings = settings
        self.auth = auth
        self.discovery = BackendDiscovery(registry.api, ttl=settings.discovery_ttl)
        self.store = JobStore(registry, self.discovery)
        self.queues = QueueBoard(registry, settings.queues, window=settings.queue_admission_window)
        self.submitter = Submitter(registry, self.discovery, settings, self.queues)
        self.index = JobIndex(registry, self.store)
        self.progress = SharedProgress()
        self.leases = ClusterLeases(registry, settings.failover_lease_seconds,
                                    on_acquired=lambda cluster: self.failover.changed(cluster, None))
        self.failover = FailoverQueue(self, self.leases.holds)
        self.cancels = Cancels(self, self.leases.holds)
        self.index.listen(self.failover.changed)
        self.index.listen(self.cancels.changed)
        self.queues.listeners.append(lambda cluster: self.failover.changed(cluster, None))
        self.failover.stuck_checks.append(self.queues.stuck)
        self.failover.in_queue = self.queues.still_queued
        self.hedges = Hedges(self, self.leases.holds)
        self.index.listen(self.hedges.changed)
        self.queues.refreshed.append(lambda cluster: self.hedges.changed(cluster, None))

    def start(self) -> None:
        """Start the jobs index, the failover Leases and the failover queue (cancels left half-way are
        resumed as the index finds them)."""
        self.index.start()
        self.leases.start()
        self.failover.start()
        self.queues.start()

    # ---- clusters ------------------------------------------------------------------------------
    async def clusters(self, caller: Caller) -> list[dict]:
        """Every member cluster as ``federation.views.cluster_json`` shows it to the caller, with the
        backends it offers."""
        snapshot = self.registry.snapshot()

        async def backends(name: str, healthy: bool) -> list[str]:
            if not healthy:
                return []
            try:
                served = await self.discovery.served_now(name)
            except Exception:  # noqa: BLE001 - shown as no operator backends
                served = frozenset()
            return list(dict.fromkeys(b for kind in KINDS for b in backends_for(kind, served)))

        found = await asyncio.gather(*(backends(c.name, c.healthy) for c in snapshot.clusters))
        return [{**cluster_json(cluster, caller.groups), "backends": offered}
                for cluster, offered in zip(snapshot.clusters, found)]

    def budget(self, caller: Caller) -> dict:
        """The caller's federation-wide GPU budget, what they hold where, and what is left; the GPUs of
        their jobs waiting in Kueue queues apart (``queued``)."""
        jobs, _ = self._listed(caller.name)
        queued = [Holding(job.cluster, f"job {job.record.name if job.record else job.job_id}", gpus)
                  for job, gpus in self.queues.queued_gpus(jobs)]
        return with_queued(self.registry.budget(caller.name, caller.groups), queued)

    async def clusters_feed(self, caller: Caller, since: str, wait: float) -> dict:
        """``{"version", "clusters"}``; with ``since`` (an earlier ``version``), answers once what the
        caller sees differs from it, or after ``wait`` seconds."""
        deadline = time.monotonic() + wait
        while True:
            seen = self.registry.version  # a change while the answer is made wakes the wait below
            clusters = await self.clusters(caller)
            answer = {"version": version_of(clusters), "clusters": clusters}
            left = deadline - time.monotonic()
            if not since or answer["version"] != since or left <= 0:
                return answer
            await self.registry.wait_for_change(seen, left)

    def options(self) -> dict:
        """The option schema (``jobs.options``) with this federation's clusters, GPU types and limits."""
        snapshot = self.registry.snapshot()
        types: dict[str, dict] = {}
        for cluster in snapshot.clusters:
            for gpu in cluster.gpus.values():
                entry = types.setdefault(gpu.gpu_type, {"name": gpu.gpu_type, "display": gpu.display,
                                                        "clusters": []})
                entry["clusters"].append(cluster.name)
        return render_schema([c.name for c in snapshot.clusters], [types[name] for name in sorted(types)],
                             self.settings.limits())

    # ---- jobs ----------------------------------------------------------------------------------
    async def view(self, job: JobObjects) -> dict:
        """The job's API view, with its progress from rank 0's log (what is left of it, while a
        cancel deletes it)."""
        if cancelling(job.anchor):
            return cancelling_view(job_view(job, None, self.registry.snapshot()), job)
        progress = await logs.progress_of(self.registry.api(job.cluster), job) if job.pods else None
        return self.queues.annotate(job_view(job, progress, self.registry.snapshot()), job)

    async def list_jobs(self, caller: Caller, everyone: bool, state: str | None) -> dict:
        """The caller's jobs (everyone's with ``everyone``, for admins) on every cluster, newest first,
        from the live index; ``state`` filters by phase. Only running jobs get their progress (from
        rank 0's log)."""
        check_listing(caller, everyone, state)
        jobs, skipped = self._listed(None if everyone else caller.name)
        snapshot = self.registry.snapshot()
        naming = gpu_naming(snapshot)
        views = [(job, self.queues.annotate(self.index.views.view(job, snapshot, naming), job)) for job in jobs]
        if state:
            views = [(job, view) for job, view in views if view["phase"].lower() == state]
        running = [(job, view) for job, view in views if view["phase"] == "Running"]
        found = await asyncio.gather(*(logs.progress_of(self.registry.api(job.cluster), job)
                                       for job, _ in running))
        for (_, view), progress in zip(running, found):
            view["progress"] = progress
        listed = sorted((view for _, view in views), key=lambda v: (v["created"] or "", v["id"]), reverse=True)
        return {"jobs": listed, "unavailable": skipped}

    async def jobs_feed(self, caller: Caller, everyone: bool, state: str | None, since: str,
                        wait: float) -> dict:
        """The jobs feed: ``{"version", "jobs": [JobRow], "unavailable"}`` from the live index.

        With ``since`` (an earlier ``version``), answers as soon as the caller's view differs from
        it (woken only by changes to the caller's jobs, or everyone's with ``everyone``), or after
        ``wait`` seconds with the same version.
        """
        check_listing(caller, everyone, state)
        owner = None if everyone else caller.name
        deadline = time.monotonic() + wait
        while True:
            answer = self._feed_answer(owner, state)
            left = deadline - time.monotonic()
            if not since or answer["version"] != since or left <= 0:
                return answer
            await self.index.wait(owner, left)

    def _listed(self, owner: str | None) -> tuple[list[JobObjects], list[dict]]:
        """The jobs of ``owner`` (everyone's when None) in the index, those being cancelled left out."""
        jobs, skipped = self.index.jobs(owner)
        return [job for job in jobs if not cancelling(job.anchor)], skipped

    def _feed_answer(self, owner: str | None, state: str | None) -> dict:
        jobs, skipped = self._listed(owner)
        snapshot = self.registry.snapshot()
        naming = gpu_naming(snapshot)
        rows = [self.queues.annotate(dict(self.index.views.row(job, snapshot, naming)), job) for job in jobs]
        if state:
            rows = [row for row in rows if row["phase"].lower() == state]
        rows.sort(key=lambda r: (r["created"] or "", r["id"]), reverse=True)
        body = {"jobs": rows, "unavailable": skipped}
        return {"version": version_of(body), **body}

    async def job_detail(self, caller: Caller, job_id: str) -> dict:
        """A job's full view and, as ``spec``, what ``POST /api/v1/jobs`` takes to run it again (None
        when its anchor is gone: the view shows what is left)."""
        job = await self.job(caller, job_id)
        anchor = await self.store.anchor(job)
        if anchor is None and job.anchor is not None:  # gone since the index saw it: moved, or cancelled
            job = self.authorise(caller, await self.store.get(job_id))
            anchor = await self.store.anchor(job)
        view = await self.view(job)
        view["spec"] = resubmission(anchor, job.record) if anchor is not None else None
        return view

    def authorise(self, caller: Caller, job: JobObjects) -> JobObjects:
        """``job`` if the caller may see and act on it; 403 otherwise."""
        if not caller.may_act_on(job.owner):
            raise Forbidden(f"Job {job.job_id} belongs to another user; you can see and act on your own jobs "
                            "only.")
        return job

    async def job(self, caller: Caller, job_id: str) -> JobObjects:
        """A job the caller may see, from the live index (found afresh on the clusters when the index
        does not show it); 404 / 403 otherwise."""
        return self.authorise(caller, self.index.find(job_id) or await self.store.get(job_id))

    async def submit(self, caller: Caller, body: object) -> dict:
        """Create a job for the caller (see ``Submitter.submit``); its view. The failover queue
        guards it once the index sees it."""
        job = await self.submitter.submit(caller.name, caller.groups, body)
        await self.index.until(job.cluster, job.job_id, present=True)
        return self.queues.annotate(job_view(job, None, self.registry.snapshot()), job)

    async def plan_job(self, caller: Caller, body: object) -> dict:
        """Where the job in ``body`` would go and why (``Submitter.dry_run``); nothing is created."""
        return await self.submitter.dry_run(caller.name, caller.groups, body)

    async def cancel(self, caller: Caller, job_id: str) -> dict:
        """Cancel a job: mark every copy the index shows (a failover may leave two) so no replica
        moves it, have ``Cancels`` delete them in the background, and answer at once with the job
        as Cancelled and what is left of it. The mark reaches the index before the answer, so a
        list made right after leaves the job out."""
        job = await self.job(caller, job_id)
        clusters, _ = self.store.healthy()
        copies = [self.index.job(c, job_id) for c in clusters if self.index.has(c, job_id)] or [job]
        marked = await asyncio.gather(*(self.store.mark_cancelling(copy) for copy in copies
                                        if copy.anchor is not None and not cancelling(copy.anchor)),
                                      return_exceptions=True)
        for failed in (m for m in marked if isinstance(m, BaseException)):
            log.warning("job %s: marking it cancelled failed (%s); deleting it all the same", job_id, failed)
        self.cancels.start(job_id)
        await asyncio.gather(*(self._until_marked(copy) for copy in copies))
        return cancelling_view(job_view(job, None, self.registry.snapshot()), job)

    async def _until_marked(self, job: JobObjects, timeout: float = 2.0) -> None:
        """Wait (up to ``timeout``) until the index shows the copy marked cancelled, or gone."""
        deadline = time.monotonic() + timeout
        async with self.index.follow(job.cluster, job.job_id, sync_timeout=timeout, appear_timeout=0) as follow:
            while not follow.empty() and not cancelling(follow.objects().anchor):
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                await follow.next_change(left)

    async def stop(self) -> None:
        """Stop the cancels and the failover queue, release the Leases and stop the index (another
        replica, or the next gateway, resumes from the clusters)."""
        await self.cancels.stop()
        await self.queues.stop()
        await self.hedges.stop()
        await self.failover.stop()
        await self.leases.stop()
        await self.index.stop()


def check_listing(caller: Caller, everyone: bool, state: str | None) -> None:
    """Refuse an unknown state filter (400), and everyone's jobs to a non-admin (403)."""
    if state is not None and state not in JOB_STATES:
        raise BadRequest(f"Unknown state {state!r}; filter by one of: {', '.join(JOB_STATES)}.")
    if everyone and not caller.admin:
        raise Forbidden("Only administrators (the admin:users scope) may list every user's jobs; leave "
                        "out 'all' to list yours.")
