"""Logs of one rank of a job, through the member cluster's pod log API.

Rank 0 (a Spark job's driver) is the default. ``read`` gives the last ``DEFAULT_TAIL``
lines unless asked for more (at most ``MAX_TAIL``); ``stream`` follows a running
container until it ends. A pod that is not there or not started yet is waited for
when following, and gives an empty log otherwise.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
from kubernetes_asyncio.client.rest import ApiException

from ..federation.unreachable import UNREACHABLE
from ..jobs import kinds
from . import kube
from .errors import BadRequest
from .model import JobObjects
from .progress import last_progress
from .status import current_pods, expected_pods, role_and_rank

PROGRESS_TAIL = 400
#: Lines a log read without ``tail`` returns (the end of the log).
DEFAULT_TAIL = 10_000
MAX_TAIL = 100_000


def rank_range(objects: JobObjects) -> range:
    """The ranks a job has (Spark: the driver is 0, executors follow)."""
    return range(expected_pods(objects))


def _leader_note(kind: str | None) -> str:
    """`` (0 is the driver).`` where a kind's rank 0 has a name of its own, else ``.``."""
    leader = kinds.lookup(kind).leader
    return "." if leader == "rank 0" else f" (0 is the {leader})."


def pod_for_rank(objects: JobObjects, rank: int) -> dict | None:
    """The newest pod of ``rank``; BadRequest for a rank the job does not have."""
    if rank not in rank_range(objects):
        last = len(rank_range(objects)) - 1
        raise BadRequest(f"Job {objects.job_id} has no rank {rank}: its ranks are 0 to {last}"
                         + _leader_note(objects.kind))
    for pod in current_pods(objects):
        if role_and_rank(pod, objects.kind)[1] == rank:
            return pod
    return None


def container_of(pod: dict, wanted: str | None) -> str:
    """The container to read: ``wanted`` if the pod has it, else the main (first) container."""
    spec = pod.get("spec") or {}
    names = [c["name"] for c in (spec.get("containers") or [])]
    init = [c["name"] for c in (spec.get("initContainers") or [])]
    if wanted is None:
        return names[0]
    if wanted not in names + init:
        raise BadRequest(f"Pod {pod['metadata']['name']} has no container {wanted!r}; it has: "
                         f"{', '.join(names + init)}.")
    return wanted


def started_pod(objects: JobObjects, rank: int, wanted: str | None) -> tuple[dict, str] | None:
    """The pod of ``rank`` and the container to read, once that container has started; else None."""
    pod = pod_for_rank(objects, rank)
    if pod is None:
        return None
    container = container_of(pod, wanted)
    return (pod, container) if started(pod, container) else None


def started(pod: dict, container: str) -> bool:
    """Whether the container has started (running, or run before)."""
    status = pod.get("status") or {}
    for cs in (status.get("containerStatuses") or []) + (status.get("initContainerStatuses") or []):
        if cs.get("name") == container:
            state = cs.get("state") or {}
            before = (cs.get("lastState") or {}).get("terminated")
            return bool(state.get("running") or state.get("terminated") or before)
    return False


def _query(container: str, tail: int | None, follow: bool) -> dict:
    query: dict = {"container": container}
    if tail is not None:
        query["tailLines"] = str(min(max(tail, 0), MAX_TAIL))
    if follow:
        query["follow"] = "true"
    return query


async def read(api, namespace: str, pod: dict, container: str, tail: int | None) -> str:
    """The container's log now: the last ``tail`` lines (``DEFAULT_TAIL`` when None); empty before
    it starts."""
    if not started(pod, container):
        return ""
    path = kube.PODS.path(namespace, pod["metadata"]["name"], "log")
    query = _query(container, DEFAULT_TAIL if tail is None else tail, False)
    resp = await kube.open_stream(api, "GET", path, query=query, timeout=30)
    try:
        return (await resp.read()).decode(errors="replace")
    finally:
        resp.release()


async def stream(api, namespace: str, pod: dict, container: str, tail: int | None) -> AsyncIterator[bytes]:
    """Follow the container's log from ``tail`` lines back until the container ends."""
    path = kube.PODS.path(namespace, pod["metadata"]["name"], "log")
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=None)
    resp = await kube.open_stream(api, "GET", path, query=_query(container, tail, True), timeout=timeout)
    try:
        async for chunk in resp.content.iter_any():
            yield chunk
    finally:
        resp.release()


async def progress_of(api, objects: JobObjects) -> dict | None:
    """The job's last reported progress (from rank 0's log), or None."""
    pod = pod_for_rank(objects, 0)
    if pod is None:
        return None
    try:
        text = await read(api, objects.namespace, pod, container_of(pod, None), PROGRESS_TAIL)
    except (ApiException, *UNREACHABLE):
        return None
    return last_progress(text)
