"""Moving a job whose pods stay unschedulable to the next candidate cluster.

After a job is created, a ``FailoverGuard`` watches it until its pods are all scheduled
(or it ends, or is cancelled, or ``failover_window`` passes). When a pod stays
unschedulable (FailedScheduling), its image cannot be pulled, or the quota refuses its
pods, for ``failover_grace`` seconds, the guard re-places the job among the clusters
still to try, creates it on the first that takes it, records the move in the job's
history, and deletes it from the cluster it left. Everything it needs is on the
cluster (the job record and spec on the anchor ConfigMap), so a restarted gateway
resumes guarding where the last one stopped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from datetime import datetime

from ..spawner.failover import reason_for_event
from . import kube
from .cancel import delete_job
from .identity import ANNOTATION_RECORD, JobRecord, spec_of
from .mirror import JobMirror
from .model import JobObjects
from .planning import placement_request, replan
from .status import current_pods, expected_pods, pod_reason, terminal_state

log = logging.getLogger(__name__)

_PULL = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName")


def stuck_reason(objects: JobObjects, failed_creates: list[dict]) -> str | None:
    """Why the job cannot start on its cluster now (for people), or None if nothing blocks it."""
    for pod in current_pods(objects):
        for cond in (pod.get("status") or {}).get("conditions") or []:
            if cond.get("type") == "PodScheduled" and cond.get("reason") == "Unschedulable":
                found = reason_for_event({"reason": "FailedScheduling", "message": cond.get("message", "")})
                return (found or "its pods cannot be scheduled").replace("the server", "the job")
        reason = pod_reason(pod) or ""
        if reason in _PULL:
            return "the job's image cannot be pulled there"
    if len(current_pods(objects)) >= expected_pods(objects):
        return None
    for event in failed_creates:  # old events stay around: only while pods are missing
        message = event.get("message") or ""
        if "exceeded quota" in message:
            quota = message.split("exceeded quota: ")[-1][:160]
            return f"its pods are over the namespace quota ({quota})"
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
    """Watches one job until it is settled, moving it while it is stuck."""

    def __init__(self, service, job_id: str, cluster: str):
        self.service = service
        self.job_id = job_id
        self.cluster = cluster

    @property
    def settings(self):
        return self.service.settings

    async def run(self) -> None:
        try:
            while True:
                stuck = await self._until_stuck()
                if stuck is None:
                    return
                moved = await self._move(*stuck)
                if moved is None:
                    return
                self.cluster = moved
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - a guard must never take the gateway down
            log.exception("job %s: failover guard stopped", self.job_id)

    async def _until_stuck(self) -> tuple[JobObjects, str] | None:
        """Watch the job on its cluster; (objects, reason) once it has been stuck for the grace period."""
        store = self.service.store
        workloads, others = await store.resources(self.cluster)
        api = self.service.registry.api(self.cluster)
        mirror = JobMirror(api, self.cluster, store.namespace(self.cluster), self.job_id, workloads, others,
                           events=True)
        await mirror.start()
        since: float | None = None  # when the job was first seen stuck
        try:
            while True:
                mirror.changed.clear()
                objects = mirror.objects()
                record = objects.record
                if mirror.empty() or record is None or not record.failover:
                    return None
                if time.time() > _epoch(record.created) + self.settings.failover_window:
                    return None
                reason = stuck_reason(objects, mirror.failed_creates())
                if reason is None:
                    if settled(objects):
                        return None
                    since = None
                else:
                    since = since or time.monotonic()
                    if time.monotonic() - since >= self.settings.failover_grace:
                        return objects, reason
                try:
                    await asyncio.wait_for(mirror.changed.wait(), 1.0)
                except asyncio.TimeoutError:
                    pass
        finally:
            await mirror.stop()

    async def _move(self, objects: JobObjects, reason: str) -> str | None:
        """Re-place the job; the cluster it moved to, or None when it stays."""
        service, cluster = self.service, self.cluster
        api = service.registry.api(cluster)
        anchor_name = objects.anchor["metadata"]["name"]
        anchor = await kube.request(api, "GET", kube.CONFIGMAPS.path(objects.namespace, anchor_name))
        spec, record, owner = spec_of(anchor), objects.record, objects.owner
        request = placement_request(spec, record.requested_gpu, owner, frozenset(record.groups), None)
        order, gpu_types = replan(request, service.registry.snapshot(), record.failover, record.ordered)
        order = await service.submitter.runnable(order, spec.kind)
        if not order:
            await self._note(objects, record, f"{cluster}: {reason}; no other cluster can take it now — "
                                              f"waiting on {cluster}")
            return None
        try:
            moved, _ = await service.submitter.place(self.job_id, spec, owner, order, gpu_types, record,
                                                     moving_from=(cluster, reason))
        except Exception as err:  # noqa: BLE001 - every candidate refused: stay and say so
            await self._note(objects, record,
                             f"{cluster}: {reason}; moving it failed ({err}) — waiting on {cluster}")
            return None
        log.info("job %s failed over from %s to %s: %s", self.job_id, cluster, moved.cluster, reason)
        await delete_job(service.store, objects, timeout=self.settings.cancel_timeout,
                         pod_grace=self.settings.pod_grace_seconds)
        return moved.cluster

    async def _note(self, objects: JobObjects, record: JobRecord, note: str) -> None:
        """Record that the job stays (no more failover), on its anchor."""
        updated = replace(record.noted(note), failover=())
        patch = {"metadata": {"annotations": {ANNOTATION_RECORD: updated.to_json()}}}
        api = self.service.registry.api(self.cluster)
        name = objects.anchor["metadata"]["name"]
        await kube.merge_patch(api, kube.CONFIGMAPS, objects.namespace, name, patch)
