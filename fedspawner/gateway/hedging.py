"""Hedged queueing: a job waits in two clusters' Kueue queues and keeps the first one admitted.

With ``c.Gateway.queue_hedge`` a batch job that two Kueue clusters could take is created on
both (the same job id), each copy in its cluster's queue, and every pod template of each
copy carries the scheduling gate ``fedspawner.dev/hedge``: Kueue admits and unsuspends a
copy as usual, but its pods cannot be scheduled while the gate is on them. ``Hedges``
watches the copies (the jobs index and each refresh of Kueue's queues wake it): once Kueue
admits one copy, every other copy is deleted and confirmed gone, the winner's anchor is
marked ``won`` with a line in the job's history, and only then are the gates taken off the
winner's pods (and off any pod of it created later). So at no time can two copies run.
"""

from __future__ import annotations

import asyncio
import logging

from . import kube
from .cancel import delete_job
from .model import JobObjects

log = logging.getLogger(__name__)

#: The scheduling gate on a hedged copy's pods, and the anchor annotation saying the hedge's state.
HEDGE_GATE = "fedspawner.dev/hedge"
ANNOTATION_HEDGE = "fedspawner.dev/hedge"
PENDING, WON = "pending", "won"


def gate(objects: list[dict]) -> bool:
    """Hold back the pods of a copy's workload objects with the hedge gate and mark its anchor as hedged;
    False (nothing changed) when a workload object is not a batch Job (only those are hedged)."""
    workloads = [o for o in objects if o.get("kind") in kube.WORKLOAD_KINDS]
    if not workloads or any(o["kind"] != kube.JOBS.kind for o in workloads):
        return False
    for job in workloads:
        pod = job["spec"]["template"].setdefault("spec", {})
        pod["schedulingGates"] = [*(pod.get("schedulingGates") or []), {"name": HEDGE_GATE}]
    objects[0]["metadata"].setdefault("annotations", {})[ANNOTATION_HEDGE] = PENDING
    return True


def hedge_state(job: JobObjects) -> str | None:
    """``pending`` / ``won`` for a hedged copy, None for a job that is not hedged."""
    return (((job.anchor or {}).get("metadata") or {}).get("annotations") or {}).get(ANNOTATION_HEDGE)


def gated(pod: dict) -> list[dict] | None:
    """The pod's scheduling gates without the hedge gate, when it carries it; None otherwise."""
    gates = (pod.get("spec") or {}).get("schedulingGates") or []
    if not any(g.get("name") == HEDGE_GATE for g in gates):
        return None
    return [g for g in gates if g.get("name") != HEDGE_GATE]


class Hedges:
    """Decides each hedged job once a copy is admitted, and lets the winner's pods go.

    ``service`` is the ``GatewayService`` (index, store, queue board, settings); ``holds(cluster)``
    says whether this replica guards that cluster (its failover Lease).
    """

    def __init__(self, service, holds):
        self.service = service
        self.holds = holds
        self._busy: set[str] = set()  # job ids being decided or ungated
        self._tasks: set[asyncio.Task] = set()

    def changed(self, cluster: str, job_id: str | None) -> None:
        """The index's listener (and the queue board's, with ``job_id`` None): look at hedged copies."""
        index = self.service.index
        ids = [job_id] if job_id else index.job_ids(cluster)
        for one in ids:
            if one in self._busy or not index.has(cluster, one):
                continue
            if hedge_state(index.job(cluster, one)) is not None:
                self._busy.add(one)
                task = asyncio.create_task(self._look(one), name=f"hedge-{one}")
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def copies(self, job_id: str) -> list[JobObjects]:
        """Every copy of the job the index shows."""
        index = self.service.index
        return [index.job(c, job_id) for c in self.service.registry.members if index.has(c, job_id)]

    async def _look(self, job_id: str) -> None:
        try:
            copies = [c for c in self.copies(job_id) if hedge_state(c) is not None]
            won = [c for c in copies if hedge_state(c) == WON]
            if won:
                await self._release(won[0])
                return
            admitted = sorted(((q["admitted"] or "", c) for c in copies
                               for q in [self.service.queues.queue_of(c) or {}] if q.get("state") == "admitted"),
                              key=lambda pair: pair[0])
            if admitted and self.holds(admitted[0][1].cluster):
                await self._decide(admitted[0][1], [c for c in copies if c is not admitted[0][1]])
        except Exception:  # noqa: BLE001 - the next change looks again
            log.exception("job %s: deciding its hedge failed", job_id)
        finally:
            self._busy.discard(job_id)

    async def _decide(self, winner: JobObjects, losers: list[JobObjects]) -> None:
        """Delete every other copy (confirmed gone), mark the winner, then let its pods go."""
        store, settings = self.service.store, self.service.settings
        for loser in losers:
            await delete_job(store, loser, timeout=settings.cancel_timeout, pod_grace=settings.pod_grace_seconds)
        anchor = await store.anchor(winner)
        if anchor is None:
            return  # cancelled meanwhile
        await kube.merge_patch(self.service.registry.api(winner.cluster), kube.CONFIGMAPS, winner.namespace,
                               anchor["metadata"]["name"], {"metadata": {"annotations": {ANNOTATION_HEDGE: WON}}})
        record = winner.record
        if record is not None:
            others = ", ".join(sorted(c.cluster for c in losers)) or "no other cluster"
            await store.save_record(winner, record.noted(
                f"{winner.cluster}: admitted first by its queue — kept; withdrew the copy queued on {others}"))
        log.info("job %s: hedge won on %s; withdrew %s", winner.job_id, winner.cluster,
                 [c.cluster for c in losers])
        await self._release(winner)

    async def _release(self, winner: JobObjects) -> None:
        """Take the hedge gate off the winner's pods (those the index shows now; later ones wake us again)."""
        if not self.holds(winner.cluster):
            return
        api = self.service.registry.api(winner.cluster)
        for pod in winner.pods:
            rest = gated(pod)
            if rest is not None:
                await kube.merge_patch(api, kube.PODS, winner.namespace, pod["metadata"]["name"],
                                       {"spec": {"schedulingGates": rest}})
