"""Moving a job whose pods stay unschedulable to the next candidate cluster.

After a job is created, a ``FailoverGuard`` watches it until its pods are all scheduled
(or it ends, or is cancelled, or ``failover_window`` passes). When a pod stays
unschedulable (FailedScheduling), its image cannot be pulled, or the quota refuses its
pods, for ``failover_grace`` seconds, the guard re-places the job among the clusters
still to try, creates it on the first that takes it, records the move in the job's
history, and deletes it from the cluster it left. Everything it needs is on the
cluster (the job record and spec on the anchor ConfigMap), so a restarted gateway
resumes guarding where the last one stopped. What counts as stuck is decided by the
federation core's failover rules, as for notebook servers.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from datetime import datetime

from ..federation.failover import IMAGE_PULL_REASONS, quota_reason, reason_for_scheduling
from .cancel import delete_job
from .identity import JobRecord, spec_of
from .model import JobObjects
from .planning import job_placement, replan
from .status import current_pods, expected_pods, pod_reason, terminal_state, unschedulable

log = logging.getLogger(__name__)

SUBJECT = "the job"


def stuck_reason(objects: JobObjects, failed_creates: list[dict]) -> str | None:
    """Why the job cannot start on its cluster now (for people), or None if nothing blocks it."""
    pods = current_pods(objects)
    for pod in pods:
        message = unschedulable(pod)
        if message is not None:
            reason = reason_for_scheduling(message, SUBJECT)
            if reason is not None:  # None: the scheduler is only waiting for volumes
                return reason
        elif (pod_reason(pod) or "") in IMAGE_PULL_REASONS:
            return f"{SUBJECT}'s image cannot be pulled there"
    if len(pods) >= expected_pods(objects):
        return None
    for event in failed_creates:  # old events stay around: only while pods are missing
        reason = quota_reason(event.get("message") or "")
        if reason is not None:
            return reason
    return None


def settled(objects: JobObjects) -> bool:
    """True once there is nothing left to fail over for: every pod scheduled, or the job ended."""
    if terminal_state(objects.primary()) is not None:
        return True
    pods = current_pods(objects)
    scheduled = [p for p in pods if (p.get("spec") or {}).get("nodeName")]
    return len(scheduled) >= expected_pods(objects)


def _epoch(iso: str) -> float:
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
    except (AttributeError, ValueError):
        return time.time()


class FailoverGuard:
    """Watches one job until it is settled, moving it while it is stuck.

    ``service`` is the ``GatewayService`` (its settings, registry, store and submitter).
    """

    def __init__(self, service, job_id: str, cluster: str):
        self.service = service
        self.job_id = job_id
        self.cluster = cluster

    @property
    def settings(self):
        """The gateway's settings (grace period and window)."""
        return self.service.settings

    async def run(self) -> None:
        """Guard the job until it is settled, moving it as often as it gets stuck."""
        try:
            while True:
                stuck = await self._until_stuck()
                if stuck is None:
                    return
                moved = await self._move(*stuck)
                if moved is None:
                    return
                self.cluster = moved
        except Exception:  # noqa: BLE001 - a guard must never take the gateway down
            log.exception("job %s: failover guard stopped", self.job_id)

    def expired(self, record: JobRecord) -> bool:
        """Whether the job was submitted longer than ``failover_window`` ago (it stays then)."""
        return time.time() > _epoch(record.created) + self.settings.failover_window

    async def _until_stuck(self) -> tuple[JobObjects, str] | None:
        """Watch the job on its cluster; (objects, reason) once it has been stuck for the grace period."""
        async with self.service.store.mirror(self.cluster, self.job_id, events=True) as mirror:
            since: float | None = None  # when the job was first seen stuck
            while True:
                objects = mirror.objects()
                record = objects.record
                if mirror.empty() or record is None or not record.failover or self.expired(record):
                    return None
                reason = stuck_reason(objects, mirror.failed_creates())
                if reason is None:
                    if settled(objects):
                        return None
                    since = None
                else:
                    since = time.monotonic() if since is None else since
                    if time.monotonic() - since >= self.settings.failover_grace:
                        return objects, reason
                await mirror.next_change(1.0)

    async def _move(self, objects: JobObjects, reason: str) -> str | None:
        """Re-place the job; the cluster it moved to, or None when it stays."""
        service, cluster = self.service, self.cluster
        spec, record, owner = spec_of(objects.anchor), objects.record, objects.owner
        request = job_placement(spec, record.requested_gpu, owner, frozenset(record.groups), None)
        order, gpu_types = replan(request, service.registry.snapshot(), record.failover, record.ordered)
        order = await service.submitter.runnable(order, spec.kind)
        if not order:
            await self._stay(objects, record, f"{cluster}: {reason}; no other cluster can take it now — "
                                              f"waiting on {cluster}")
            return None
        try:
            moved, _ = await service.submitter.place(self.job_id, spec, owner, order, gpu_types, record,
                                                     moving_from=(cluster, reason))
        except Exception as err:  # noqa: BLE001 - every candidate refused: stay and say so
            await self._stay(objects, record,
                             f"{cluster}: {reason}; moving it failed ({err}) — waiting on {cluster}")
            return None
        log.info("job %s failed over from %s to %s: %s", self.job_id, cluster, moved.cluster, reason)
        await delete_job(service.store, objects, timeout=self.settings.cancel_timeout,
                         pod_grace=self.settings.pod_grace_seconds)
        return moved.cluster

    async def _stay(self, objects: JobObjects, record: JobRecord, note: str) -> None:
        """Record on the job's anchor that it stays where it is (no more failover), and why."""
        await self.service.store.save_record(objects, replace(record.noted(note), failover=()))
