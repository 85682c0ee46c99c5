"""Removing a job from its member cluster: every object with its job-id label, verified.

Workloads go first (custom resources, then Jobs, with background propagation so their
pods are collected too), then Services and JobSets, then any pod still there, and the
anchor ConfigMap last, so a job half-way through deletion still shows in lists. Then
the cluster is asked again until nothing with the label is left; stragglers (a pod a
Job controller created meanwhile) are deleted again.
"""

from __future__ import annotations

import asyncio
import time

from ..jobs.labels import job_selector
from . import kube
from .model import JobObjects
from .store import JobStore


class CancelIncomplete(Exception):
    """Objects of the job were still there when the time was up; the message lists them."""


async def _delete_all(api, namespace: str, objects: list[dict], pod_grace: int | None) -> None:
    async def one(obj: dict) -> None:
        resource = kube.BY_KIND[obj["kind"]]
        grace = pod_grace if resource is kube.PODS else None
        await kube.delete(api, resource, namespace, obj["metadata"]["name"], propagation="Background",
                          grace=grace)

    await asyncio.gather(*(one(o) for o in objects))


def _ordered(job: JobObjects) -> list[list[dict]]:
    """Deletion rounds: workloads, owned objects, pods, the anchor."""
    custom = [w for w in job.workloads if w["kind"] != "Job"]
    jobs = [w for w in job.workloads if w["kind"] == "Job"]
    return [r for r in (custom, jobs, job.others, job.pods, [job.anchor] if job.anchor else []) if r]


async def delete_job(store: JobStore, job: JobObjects, timeout: float = 90.0, poll: float = 0.5,
                     pod_grace: int | None = 10) -> None:
    """Delete every object of ``job`` on its cluster and wait until none is left.

    Pods get ``pod_grace`` seconds to stop after SIGTERM (None: their own setting).
    """
    api = store.registry.api(job.cluster)
    selector = kube.selector(job_selector(job.job_id))
    deadline = time.monotonic() + timeout
    current = job
    while True:
        for batch in _ordered(current):
            await _delete_all(api, job.namespace, batch, pod_grace)
        await asyncio.sleep(poll)
        current = (await store.fetch(job.cluster, selector)).get(job.job_id)
        if current is None:
            return
        if time.monotonic() > deadline:
            left = ", ".join(f"{o['kind']}/{o['metadata']['name']}" for o in current.everything())
            raise CancelIncomplete(f"still on {job.cluster} after {timeout:.0f}s: {left}")
