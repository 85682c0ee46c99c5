"""Removing a job from its member cluster: every object with its job-id label, verified.

Two rounds. First everything but the anchor ConfigMap, at once: workloads (with
background propagation, so what they own goes too), Services, JobSets and pods (given
``pod_grace`` seconds to stop). The cluster is then asked again until none of them is
left, deleting again whatever is there and not already being deleted (a pod a Job
controller created meanwhile). Only then the anchor, which holds the job's record, so
a job half-way through deletion still shows in lists with its name and history, and a
cancel that is interrupted can be asked again.

A pod goes only once its node's kubelet confirms its processes ended; a node that does not
answer (its kubelet down, partitioned) never confirms, and Kubernetes leaves such a pod
Terminating for good. A pod still there ``FORCE_AFTER`` seconds past its grace period is
therefore deleted with no grace (``kubectl delete --force``): the kubelet, when it comes back,
stops what still runs of a pod the API no longer has.
"""

from __future__ import annotations

import asyncio
import time

from ..jobs.labels import job_selector
from . import kube
from .model import JobObjects
from .store import JobStore


#: Seconds past its grace period a pod may stay Terminating before it is deleted with no grace.
FORCE_AFTER = 15.0


class CancelIncomplete(Exception):
    """Objects of the job were still there when the time was up; the message lists them."""


def _deleting(obj: dict) -> bool:
    """Whether the apiserver has accepted the object's deletion already (it is going)."""
    return bool((obj.get("metadata") or {}).get("deletionTimestamp"))


async def _delete_all(api, namespace: str, objects: list[dict], pod_grace: int | None) -> None:
    """Ask for the deletion of each of ``objects`` not being deleted already (concurrently)."""
    async def one(obj: dict) -> None:
        resource = kube.BY_KIND[obj["kind"]]
        grace = pod_grace if resource is kube.PODS else None
        await kube.delete(api, resource, namespace, obj["metadata"]["name"], propagation="Background",
                          grace=grace)

    await asyncio.gather(*(one(o) for o in objects if not _deleting(o)))


async def _force_stuck(api, namespace: str, pods: list[dict], terminating: dict[str, float],
                       after: float) -> None:
    """Delete with no grace each of ``pods`` Terminating here for more than ``after`` seconds
    (``terminating`` remembers since when, across the checks of one deletion)."""
    now = time.monotonic()
    stuck = []
    for pod in pods:
        if _deleting(pod):
            name = pod["metadata"]["name"]
            if now - terminating.setdefault(name, now) > after:
                stuck.append(name)
    await asyncio.gather(*(kube.delete(api, kube.PODS, namespace, name, grace=0) for name in stuck))


async def delete_job(store: JobStore, job: JobObjects, timeout: float = 90.0, poll: float = 0.5,
                     pod_grace: int | None = 10, keep_anchor: bool = False) -> None:
    """Delete every object of ``job`` on its cluster, the anchor last, and wait until none is left.

    ``job`` should hold every object of the job (``owned``); what it lacks is found on the
    first check. Pods get ``pod_grace`` seconds to stop after SIGTERM (None: their own
    setting). Raises ``CancelIncomplete`` when objects are left after ``timeout`` seconds.
    ``keep_anchor``: stop once only the anchor is left (a queued job withdrawn before it moves).
    """
    api = store.registry.api(job.cluster)
    selector = kube.selector(job_selector(job.job_id))
    deadline = time.monotonic() + timeout
    terminating: dict[str, float] = {}  # pod name -> when first seen Terminating here
    current: JobObjects | None = job
    while current is not None:
        rest = [o for o in current.everything() if o is not current.anchor]
        if keep_anchor and not rest and current is not job:
            return
        await _delete_all(api, job.namespace, rest if keep_anchor else rest or current.everything(), pod_grace)
        await _force_stuck(api, job.namespace, current.pods, terminating, (pod_grace or 30) + FORCE_AFTER)
        await asyncio.sleep(poll)
        current = (await store.fetch(job.cluster, selector, owned=True)).get(job.job_id)
        if current is not None and time.monotonic() > deadline:
            left = ", ".join(f"{o['kind']}/{o['metadata']['name']}" for o in current.everything())
            raise CancelIncomplete(f"still on {job.cluster} after {timeout:.0f}s: {left}")
