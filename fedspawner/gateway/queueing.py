"""Jobs through Kueue: find each member cluster's queues, put jobs into them, say where they stand.

Where a member cluster serves Kueue (API discovery of ``kueue.x-k8s.io/v1beta2``) and
offers a LocalQueue in the hub's namespace, every job sent there carries the queue-name
label on its workload objects; Kueue's webhook then creates them suspended and Kueue
admits them when the ClusterQueue has quota. ``QueueBoard`` keeps what the hub's
credential sees of each such cluster (LocalQueues, their ClusterQueues where it may read
them, the namespace's Workloads), refreshed every few seconds, and answers:

- ``choose``: the queue a job uses on a cluster (the admins' ``c.Gateway.queues`` name, else
  ``default``, else the only one), or why the cluster cannot take queued work now;
- ``rank`` / ``reasons``: the clusters where a job would be admitted soonest first, with the
  predicted wait from each queue's recent admissions (``federation.admission``);
- ``annotate``: the ``queue`` object of a job's view (position N of M, the wait reason, the
  predicted wait);
- ``stuck``: a job Kueue can never admit there, or not admitted within ``window`` seconds (the
  failover guard moves it on; ``still_queued`` is its last check before withdrawing the copy).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from kubernetes_asyncio.client.rest import ApiException

from ..federation import admission, multikueue, queues
from ..federation.registry import ClusterRegistry
from . import kube
from .model import JobObjects

log = logging.getLogger(__name__)

job_needs = queues.job_needs

GROUP_VERSION = "kueue.x-k8s.io/v1beta2"
LOCALQUEUES = kube.Resource("kueue.x-k8s.io", "v1beta2", "localqueues", "LocalQueue")
WORKLOADS = kube.Resource("kueue.x-k8s.io", "v1beta2", "workloads", "Workload")


class QueueUnusable(Exception):
    """The cluster's queue cannot take the job now; the message says why, for people."""


@dataclass
class ClusterQueues:
    """What the hub sees of Kueue on one cluster at one moment."""

    queues: dict[str, queues.LocalQueueState] = field(default_factory=dict)
    workloads: list[dict] = field(default_factory=list)
    readable: bool = True  # False: Kueue runs but the hub's credential may not list its queues

    def workload_of(self, job: JobObjects) -> dict | None:
        """The Kueue Workload of one of the job's workload objects (by owner uid)."""
        uids = {(o.get("metadata") or {}).get("uid") for o in job.workloads} - {None}
        for workload in self.workloads:
            owners = (workload.get("metadata") or {}).get("ownerReferences") or []
            if any(o.get("uid") in uids for o in owners):
                return workload
        return None


def enqueue(objects: list[dict], queue: str) -> list[dict]:
    """Put the job's workload objects (batch Jobs and the operators' custom resources) into ``queue``.

    Kueue's webhook suspends each object of a kind it integrates as it is created; kinds it
    does not integrate ignore the label.
    """
    for obj in objects:
        if obj.get("kind") in kube.WORKLOAD_KINDS:
            obj.setdefault("metadata", {}).setdefault("labels", {})[queues.QUEUE_LABEL] = queue
    return objects


def webhook_failure(err: ApiException, cluster: str) -> str | None:
    """A clear message when Kueue's admission webhook failed the create (Kueue is down), else None."""
    body = str(err.body or "")
    if err.status in (500, 503) and "failed calling webhook" in body and "kb.io" in body:
        return (f"Kueue on {cluster} is not answering (its admission webhook failed), so the cluster takes no "
                "queued work now; nothing was left there. Its admins need to check Kueue")
    return None


class QueueBoard:
    """Kueue's state on every member cluster, as the hub's credential sees it."""

    #: Seconds between two looks for Kueue on a cluster that did not serve it.
    RECHECK = 30.0
    #: Seconds a queue's answer to ``dispatches`` is kept.
    DISPATCH_TTL = 60.0

    def __init__(self, registry: ClusterRegistry, names: dict | None = None, interval: float = 2.0,
                 window: float = 0.0):
        self.registry = registry
        self.names = names or {}  # c.Gateway.queues: cluster -> queue name, or {group: name, "*": name}
        self.interval = interval
        self.window = window  # c.Gateway.queue_admission_window (0: wait in a queue as long as it takes)
        self._admissions: dict[tuple[str, str], list[admission.Admission]] = {}  # (cluster, queue) -> recent
        self._state: dict[str, ClusterQueues | None] = {}
        self._read_at: dict[str, float] = {}
        self._dispatch: dict[tuple[str, str], tuple[bool, float]] = {}  # (cluster, queue) -> (answer, when)
        self._task: asyncio.Task | None = None
        self.listeners: list = []  # called with (cluster) after a refresh finds a workload stuck there
        self.refreshed: list = []  # called with (cluster) after every periodic refresh of a Kueue cluster

    # ---- reading ---------------------------------------------------------------------------------
    async def refresh(self, cluster: str) -> ClusterQueues | None:
        """Read Kueue's objects on ``cluster`` now (None: the cluster does not serve Kueue)."""
        api, ns = self.registry.api(cluster), self.registry.members[cluster].namespace
        try:
            served = await kube.request(api, "GET", f"/apis/{GROUP_VERSION}", timeout=10)
        except ApiException as err:
            if err.status != 404:
                raise
            served = {}
        plurals = {r.get("name") for r in served.get("resources") or []}
        if "localqueues" not in plurals:
            found = None
        else:
            try:
                lqs = await kube.request(api, "GET", LOCALQUEUES.path(ns), timeout=10)
                workloads = await kube.request(api, "GET", WORKLOADS.path(ns), timeout=10)
            except ApiException as err:
                if err.status != 403:
                    raise
                found = ClusterQueues(readable=False)
            else:
                cqs = await self._cluster_queues(api, {(q.get("spec") or {}).get("clusterQueue")
                                                       for q in lqs.get("items") or []})
                found = ClusterQueues(
                    queues={q["metadata"]["name"]: queues.local_queue_state(
                        q, cqs.get((q.get("spec") or {}).get("clusterQueue"))) for q in lqs.get("items") or []},
                    workloads=workloads.get("items") or [])
        self._state[cluster], self._read_at[cluster] = found, time.monotonic()
        if found:
            self._note_admissions(cluster, found.workloads)
        return found

    def _note_admissions(self, cluster: str, workloads: list[dict]) -> None:
        """Keep the admissions seen in ``workloads`` (they outlive the Workloads, which go with their jobs)."""
        seen: dict[str, list[admission.Admission]] = {}
        for workload in workloads:
            admitted = admission.admission_of(workload)
            if admitted is not None:
                seen.setdefault(admitted.queue, []).append(admitted)
        for queue, found in seen.items():
            key = (cluster, queue)
            self._admissions[key] = admission.merge(self._admissions.get(key, []), found)

    @staticmethod
    async def _cluster_queues(api, names: set) -> dict[str, dict]:
        """The ClusterQueues the credential may read (a namespaced one usually may not: "up to")."""
        found = {}
        for name in sorted(n for n in names if n):
            try:
                found[name] = await kube.request(api, "GET", f"/apis/{GROUP_VERSION}/clusterqueues/{name}",
                                                 timeout=10)
            except ApiException as err:
                if err.status not in (403, 404):
                    raise
        return found

    def state(self, cluster: str) -> ClusterQueues | None:
        """The last state read of ``cluster`` (None: no Kueue there, or not read yet)."""
        return self._state.get(cluster)

    # ---- keeping it fresh ------------------------------------------------------------------------
    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._poll(), name="kueue-queues")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _poll(self) -> None:
        while True:  # every cluster at once: a slow one does not delay what the others say
            await asyncio.gather(*(self._poll_one(cluster) for cluster in list(self.registry.members)))
            await asyncio.sleep(self.interval)

    async def _poll_one(self, cluster: str) -> None:
        if cluster in self._state and self._state[cluster] is None \
                and time.monotonic() - self._read_at[cluster] < self.RECHECK:
            return  # no Kueue there a moment ago
        try:
            state = await self.refresh(cluster)
        except Exception as err:  # noqa: BLE001 - an unreachable cluster keeps its last state
            log.debug("%s: reading Kueue's queues failed: %s", cluster, err)
            return
        if state and any(self._stuck_workload(w) for w in state.workloads):
            for listener in self.listeners:
                listener(cluster)
        if state:
            for listener in self.refreshed:
                listener(cluster)

    # ---- submitting ------------------------------------------------------------------------------
    async def choose(self, cluster: str, groups: frozenset[str], needs: dict[str, float]) -> str | None:
        """The LocalQueue a job uses on ``cluster`` (None: the cluster does not queue through Kueue).

        Raises QueueUnusable when the admins' queue does not exist, the queue is stopped, or
        its whole quota is smaller than the job. Reads the queues afresh: an admin may have just
        stopped or resumed one.
        """
        state = await self.refresh(cluster)
        wanted = queues.queue_for(self.names.get(cluster), groups)
        if state is None:
            if wanted:
                raise QueueUnusable(f"the admins named queue {wanted!r} for {cluster}, but Kueue does not run "
                                    "there; nothing was created")
            return None
        if not state.readable:
            return wanted  # the hub may not list the queues: use the admins' name, if any
        name = queues.choose_queue(sorted(state.queues), wanted)
        if name is None:
            if wanted:
                namespace = self.registry.members[cluster].namespace
                have = ", ".join(sorted(state.queues)) or "none"
                raise QueueUnusable(f"the queue {wanted!r} the admins named for {cluster} does not exist in "
                                    f"namespace {namespace} (its LocalQueues: {have}); ask them to create "
                                    "it or correct c.Gateway.queues")
            return None
        queue = state.queues[name]
        if queue.stopped:
            raise QueueUnusable(f"queue {name} on {cluster}: {queue.stopped}; nothing is admitted there now")
        never = queues.never_fits(queue, needs)
        if never:
            raise QueueUnusable(f"queue {name} on {cluster}: {never}")
        return name

    async def dispatches(self, cluster: str, queue: str) -> bool:
        """Whether a MultiKueue manager dispatches ``queue`` on ``cluster`` to worker clusters.

        Asks Kueue itself: a Job created in the queue with ``dryRun=All`` (nothing is stored) comes
        back with MultiKueue's ``spec.managedBy`` when the queue's ClusterQueue has MultiKueue's
        admission check. Remembered for ``DISPATCH_TTL`` seconds.
        """
        key = (cluster, queue)
        known = self._dispatch.get(key)
        if known and time.monotonic() - known[1] < self.DISPATCH_TTL:
            return known[0]
        api, ns = self.registry.api(cluster), self.registry.members[cluster].namespace
        probe = await kube.request(api, "POST", kube.JOBS.path(ns), query={"dryRun": "All"},
                                   body=multikueue.probe_job(queue, ns), timeout=10)
        found = (probe.get("spec") or {}).get("managedBy") == multikueue.MANAGED_BY
        self._dispatch[key] = (found, time.monotonic())
        return found

    def _queue_name(self, cluster: str, groups: frozenset[str] = frozenset()) -> str | None:
        """The queue jobs of ``groups`` would use on ``cluster``, by its last state read."""
        state = self._state.get(cluster)
        if not state:
            return None
        return queues.choose_queue(sorted(state.queues), queues.queue_for(self.names.get(cluster), groups))

    def queues_on(self, cluster: str) -> bool:
        """Whether ``cluster`` queues jobs through Kueue, by its last state read."""
        return self._queue(cluster) is not None

    def _queue(self, cluster: str, groups: frozenset[str] = frozenset()) -> queues.LocalQueueState | None:
        state = self._state.get(cluster)
        return state.queues.get(self._queue_name(cluster, groups) or "") if state else None

    def predicted(self, cluster: str, needs: dict[str, float],
                  groups: frozenset[str] = frozenset()) -> admission.WaitPrediction | None:
        """How long a new job would wait in its queue on ``cluster`` (None: it does not queue there)."""
        queue = self._queue(cluster, groups)
        if queue is None:
            return None
        return admission.predict_wait(self._admissions.get((cluster, queue.name), []), queue.pending,
                                      queues.fits(queue, needs))

    def reasons(self, clusters: list[str] | tuple[str, ...], needs: dict[str, float] | None = None,
                groups: frozenset[str] = frozenset()) -> dict[str, str]:
        """``queue Q on C: N ahead …; predicted wait ~S`` for the clusters that queue (the ranking's
        reasons); the first of ``clusters`` is said to start soonest when others queue too."""
        said = {}
        for cluster in clusters:
            queue = self._queue(cluster, groups)
            if queue is not None:
                said[cluster] = queues.placement_reason(queue, cluster)
                wait = self.predicted(cluster, needs or {}, groups)
                said[cluster] += f"; {wait.words()}"
        if len(said) > 1 and clusters[0] in said:
            said[clusters[0]] += " — the soonest start of the clusters that fit"
        return said

    def wait_key(self, cluster: str, needs: dict[str, float], groups: frozenset[str] = frozenset()) -> float:
        """Seconds a new job is predicted to wait on ``cluster`` (0: no queue; inf: waits, unknown how long)."""
        wait = self.predicted(cluster, needs, groups)
        return 0.0 if wait is None else wait.sort_key()

    def rank(self, order: list[str], needs: dict[str, float], groups: frozenset[str] = frozenset()) -> list[str]:
        """``order`` with the clusters where the job would be admitted soonest first (ties keep ``order``)."""
        return sorted(order, key=lambda cluster: self.wait_key(cluster, needs, groups))

    # ---- telling ---------------------------------------------------------------------------------
    def queue_of(self, job: JobObjects) -> dict | None:
        """The ``queue`` object of the job's view, or None when the job does not go through Kueue."""
        state = self._state.get(job.cluster)
        if not state:
            return None
        workload = state.workload_of(job)
        if workload is None:
            return None
        name = (workload.get("spec") or {}).get("queueName")
        queue = state.queues.get(name or "")
        view = queues.queue_view(workload, state.workloads, job.cluster, queue.free() if queue else None)
        view["predicted_wait"] = view["predicted"] = None
        if view["state"] == "queued":
            fits = queues.fits(queue, queues.requests(workload)) if queue else None
            if (view["reason"] or "").startswith("waiting for quota"):
                fits = False  # Kueue said so, also where the hub cannot see the quota
            wait = admission.predict_wait(self._admissions.get((job.cluster, name or ""), []),
                                          queues.ahead_of(state.workloads, workload["metadata"]["name"]), fits)
            view["predicted_wait"], view["predicted"] = wait.seconds, wait.words()
            view["text"] = queues.queue_line(view)
        worker = multikueue.dispatched_to(workload)
        view["dispatched_to"] = worker
        if worker:
            view["text"] += f", {multikueue.dispatch_text(worker, job.cluster)}"
        return view

    def annotate(self, view: dict, job: JobObjects) -> dict:
        """``view`` with its ``queue`` object; a job waiting in its queue says so as its message, and
        one a MultiKueue manager dispatched says it runs on the worker (its pods are not on the manager)."""
        queue = self.queue_of(job)
        view["queue"] = queue
        if queue and queue["state"] == "queued" and view.get("phase") == "Pending":
            view["message"] = queues.queue_line(queue)
        if queue and queue.get("dispatched_to") and view.get("phase") in ("Pending", "Running", "Succeeded"):
            view["phase"], view["message"] = multikueue.mirrored_message(view["phase"], queue["dispatched_to"],
                                                                         job.cluster, job.primary())
        return view

    def _stuck_workload(self, workload: dict) -> bool:
        return queues.never_admitted(workload) or queues.overdue(workload, self.window, time.time()) is not None

    def stuck(self, job: JobObjects) -> str | None:
        """Why the job cannot start on its cluster's queue (the failover guard moves it), else None: Kueue
        can never admit it, or it was not admitted within ``window`` seconds."""
        state = self._state.get(job.cluster)
        workload = state.workload_of(job) if state else None
        if workload is None:
            return None
        line = queues.queue_line(queues.queue_view(workload, state.workloads, job.cluster))
        if queues.never_admitted(workload):
            return line
        waited = queues.overdue(workload, self.window, time.time())
        if waited is not None:
            return f"not admitted within {self.window:g} s ({line})"
        return None

    async def still_queued(self, job: JobObjects) -> bool:
        """Whether the job's copy still waits in its queue, read afresh (False once Kueue admitted it, or
        reserved quota for it: it may start any moment, so it stays)."""
        state = await self.refresh(job.cluster)
        workload = state.workload_of(job) if state else None
        return workload is not None and queues.pending(workload)

    def queued_gpus(self, jobs: list[JobObjects]) -> list[tuple[JobObjects, int]]:
        """The GPUs each of ``jobs`` asks for while it waits in a queue (jobs not queued left out)."""
        found = []
        for job in jobs:
            state = self._state.get(job.cluster)
            workload = state.workload_of(job) if state else None
            if workload is not None and queues.pending(workload):
                found.append((job, queues.gpus_requested(workload)))
        return found
