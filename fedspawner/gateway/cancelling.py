"""Cancels carried out in the background: a DELETE is answered at once, the deletion follows here.

A cancel marks the job's anchors (``ANNOTATION_CANCELLING``) and is answered (202). ``Cancels``
then deletes every copy of the job with ``cancel.delete_job`` (workloads with background
propagation, pods given their grace period, the anchor last), trying again until nothing is
left. Meanwhile the job reads as Cancelled with what is still there (``cancelling_view``) and
is left out of lists. A gateway that stops half-way loses nothing: the mark stays on the
anchor, and the replica holding the cluster's failover Lease resumes the deletion
(``Cancels.changed``, a listener of the jobs index).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable

from ..jobs.vocabulary import CANCELLED
from .cancel import delete_job
from .errors import ClusterUnavailable, NotFound
from .failover import cancelling
from .model import JobObjects

log = logging.getLogger(__name__)


def cancelling_view(view: dict, job: JobObjects) -> dict:
    """The ``Job`` of a job being cancelled: phase Cancelled, and what is left of it on its cluster."""
    left = Counter(obj["kind"] for obj in job.everything())
    what = ", ".join(f"{count} {kind}{'s' if count > 1 else ''}" for kind, count in sorted(left.items()))
    return {**view, "phase": CANCELLED, "ui_url": None,
            "message": f"cancelling: deleting what is left on {job.cluster} ({what or 'nothing'})"}


def _resumable(anchor: dict | None) -> bool:
    """A cancel begun on the job and not finished: its anchor is marked but not being deleted yet
    (it goes last, once everything else is gone)."""
    return cancelling(anchor) and not ((anchor or {}).get("metadata") or {}).get("deletionTimestamp")


class Cancels:
    """The deletions of cancelled jobs this replica carries out.

    ``service`` is the ``GatewayService`` (store, index, failover queue, settings); ``holds(cluster)``
    says whether this replica resumes the cancels found on that cluster (it holds its Lease).
    A deletion that does not finish (objects left after ``cancel_timeout``, a cluster not
    answering) is tried again after ``retry`` seconds, then ever less often.
    """

    def __init__(self, service, holds: Callable[[str], bool], retry: float = 5.0):
        self.service = service
        self.holds = holds
        self.retry = retry
        self._tasks: dict[str, asyncio.Task] = {}

    def running(self, job_id: str) -> bool:
        """Whether this replica is deleting the job now."""
        return job_id in self._tasks

    def start(self, job_id: str) -> None:
        """Delete every copy of the job in the background (once: a deletion under way goes on)."""
        if job_id in self._tasks:
            return
        task = asyncio.create_task(self._run(job_id), name=f"cancel-{job_id}")
        self._tasks[job_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(job_id, None))

    def changed(self, cluster: str, job_id: str | None) -> None:
        """The index's listener: resume the cancel of a marked job on a cluster this replica guards."""
        if not self.holds(cluster):
            return
        index = self.service.index
        for one in index.job_ids(cluster) if job_id is None else [job_id]:
            if one not in self._tasks and index.has(cluster, one) and _resumable(index.job(cluster, one).anchor):
                log.info("job %s on %s is marked cancelled: deleting it", one, cluster)
                self.start(one)

    async def stop(self) -> None:
        """Stop the deletions under way (a replica, or the next gateway, resumes them)."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self, job_id: str) -> None:
        delay = self.retry
        while True:
            try:
                await self._delete_every_copy(job_id)
                return
            except NotFound:
                return  # nothing left
            except ClusterUnavailable as err:  # the copies on the clusters that answered are gone
                log.info("job %s: %s; its cancel resumes when they answer", job_id, err)
                return
            except Exception as err:  # noqa: BLE001 - whatever stopped it, the mark stays: try again
                log.warning("job %s: cancel not finished (%s); trying again in %.0fs", job_id, err, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 300.0)

    async def _delete_every_copy(self, job_id: str) -> None:
        """Mark and delete every copy (a failover may leave two, or make one meanwhile) until the
        clusters have none (``NotFound``)."""
        service = self.service
        settings = service.settings
        async with service.failover.held_off(job_id):
            while True:
                copies = await service.store.copies(job_id, owned=True)
                await asyncio.gather(*(service.store.mark_cancelling(job) for job in copies
                                       if job.anchor is not None and not cancelling(job.anchor)),
                                     return_exceptions=True)  # best effort: deleting is what counts
                results = await asyncio.gather(*(delete_job(service.store, job, timeout=settings.cancel_timeout,
                                                            pod_grace=settings.pod_grace_seconds)
                                                 for job in copies), return_exceptions=True)
                for result in results:
                    if isinstance(result, BaseException):
                        raise result
