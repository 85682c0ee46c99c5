"""The watch stream of one job: its ``Job`` view again whenever anything about it changes.

A ``JobFeed`` reads the job's objects from the shared jobs index (``index.JobFollow``:
no watch of its own) and rank 0's progress lines from one log follow per job, shared by
every stream showing it (``SharedProgress``). It yields ``{"job": ...}`` at once, then on
every change: a change of the job's or a pod's phase at once, others (progress, messages)
at most one line per ``interval``; ``{"heartbeat": true}`` when quiet for
``heartbeat`` seconds, and stops after the line that shows the job finished. If the job
leaves its cluster (failover) the feed follows it to the next; if it is gone everywhere
(cancelled), a last line says so.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager

from kubernetes_asyncio.client.rest import ApiException

from ..federation.unreachable import UNREACHABLE
from . import logs
from .errors import NotFound
from .model import JobObjects
from .progress import parse_line
from ..jobs.vocabulary import FINISHED
from .status import cancelled_view, job_view

log = logging.getLogger(__name__)


class ProgressFollower:
    """Follows rank 0's log and keeps its last progress line; tells every stream showing it."""

    def __init__(self, api, namespace: str):
        self.api, self.namespace = api, namespace
        self.listeners: set[Callable[[], None]] = set()
        self.progress: dict | None = None
        #: Whether rank 0's log was read to its end (its container ended): ``progress`` is final.
        self.complete = False
        self._pod: str | None = None
        self._task: asyncio.Task | None = None

    def update(self, objects: JobObjects) -> None:
        """Start following rank 0's pod once its main container has started."""
        pod = logs.pod_for_rank(objects, 0)
        if pod is None:
            return
        container = logs.container_of(pod, None)
        name = pod["metadata"]["name"]
        if name != self._pod and logs.started(pod, container):
            self.stop_soon()
            self._pod, self.complete = name, False
            self._task = asyncio.create_task(self._follow(pod, container))

    async def _follow(self, pod: dict, container: str) -> None:
        pending = b""
        try:
            async for chunk in logs.stream(self.api, self.namespace, pod, container, logs.PROGRESS_TAIL):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                found = [p for p in (parse_line(line.decode(errors="replace")) for line in lines) if p]
                if found:
                    self.progress = found[-1]
                    for listener in self.listeners:
                        listener()
            self.complete = True
        except (ApiException, *UNREACHABLE) as err:
            log.debug("progress follow of %s ended: %s", pod["metadata"]["name"], err)

    def stop_soon(self) -> None:
        """Stop following (the task ends at its next await)."""
        if self._task is not None:
            self._task.cancel()
            self._task = None


class SharedProgress:
    """One rank-0 log follow per job, however many watch streams show the job's progress."""

    def __init__(self):
        self._followers: dict[tuple[str, str], ProgressFollower] = {}

    @contextmanager
    def join(self, api, job: JobObjects, on_change: Callable[[], None]) -> Iterator[ProgressFollower]:
        """The job's follower while inside; ``on_change`` is called on each new progress line. The
        follow stops when the last stream leaves."""
        key = (job.cluster, job.job_id)
        follower = self._followers.get(key)
        if follower is None:
            follower = self._followers[key] = ProgressFollower(api, job.namespace)
        follower.listeners.add(on_change)
        try:
            yield follower
        finally:
            follower.listeners.discard(on_change)
            if not follower.listeners:
                follower.stop_soon()
                del self._followers[key]


class JobFeed:
    """Views of one job as it changes, for the watch endpoint."""

    def __init__(self, service, job: JobObjects):
        """``service`` is the ``GatewayService``; ``job`` the job as found when the watch began."""
        self.service = service
        self.job = job
        self.interval = service.settings.watch_interval
        self.heartbeat = service.settings.heartbeat_interval

    async def lines(self) -> AsyncIterator[dict]:
        """The job's views as it changes, and heartbeats; ends after the job finished or went."""
        job, last = self.job, None
        while True:
            async for line in self._on_cluster(job):
                if "job" in line:
                    last = line["job"]
                yield line
                if "job" in line and line["job"]["phase"] in FINISHED:
                    return
            try:  # the job left its cluster: moved by failover, or cancelled
                job = await self.service.store.get(job.job_id)
            except NotFound:
                if last is not None:
                    yield {"job": cancelled_view(last, "cancelled: the job's objects were deleted")}
                return

    async def _on_cluster(self, job: JobObjects) -> AsyncIterator[dict]:
        """The job's views while it is on ``job.cluster``."""
        api = self.service.registry.api(job.cluster)
        snapshot = self.service.registry.snapshot
        async with self.service.index.follow(job.cluster, job.job_id) as follow:
            with self.service.progress.join(api, job, follow.changed.set) as follower:
                sent, sent_at, sent_phases = None, 0.0, None
                while True:
                    objects = follow.objects()
                    if follow.empty():
                        return
                    follower.update(objects)
                    view = self.service.queues.annotate(job_view(objects, follower.progress, snapshot()), objects)
                    if view["phase"] in FINISHED and not follower.complete:  # the final line: final progress
                        view["progress"] = await logs.progress_of(api, objects) or view["progress"]
                    text = json.dumps(view, sort_keys=True)
                    if text != sent:
                        wait = self.interval - (time.monotonic() - sent_at)
                        if wait > 0 and phases(view) == sent_phases:  # phases go out at once
                            await follow.next_change(wait)
                            continue
                        sent, sent_at, sent_phases = text, time.monotonic(), phases(view)
                        yield {"job": view}
                        if view["phase"] in FINISHED:
                            return
                    quiet = self.heartbeat - (time.monotonic() - sent_at)
                    if not await follow.next_change(max(quiet, 0.01)):
                        sent_at = time.monotonic()
                        yield {"heartbeat": True}


def phases(view: dict) -> tuple:
    """What of a job's view people wait for: its phase and each pod's."""
    return (view["phase"], *((pod["name"], pod["phase"]) for pod in view["pods"]))
