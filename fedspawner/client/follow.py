"""``JobFollower``: keeps a ``JobWidget`` up to date, as asyncio tasks on the kernel's loop.

Three tasks run on the event loop that is running when following starts (in
ipykernel ≥ 6 the kernel's own loop, so widget traits are only ever touched
from it and no thread is involved):

- the watch: reads the gateway's NDJSON ``/jobs/{id}/watch`` stream and hands
  every Job dict to the widget; when the stream breaks before the job has
  ended (gateway restart, network), it reconnects with backoff, and the first
  line of the new stream is the whole current state;
- the log tail: once rank 0's pod has started, follows its log (``tail`` lines
  first, so a reconnect replaces the tail instead of duplicating it), and
  starts over when rank 0's pod changes (a failover to another cluster);
- the clock: refreshes the elapsed time every second.

Stopping the follower (``stop()``, closing the widget, unloading the extension)
only stops reading; it never cancels the job.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from ..jobs.vocabulary import is_finished
from . import view
from .errors import GatewayRequestError

if TYPE_CHECKING:
    from .gateway import Gateway
    from .widget import JobWidget

__all__ = ["JobFollower"]

RETRY_FIRST = 0.5
RETRY_MAX = 5.0
#: How long a finished job's last log lines may take to arrive before following ends.
LOG_DRAIN_SECONDS = 15.0
_STARTED = frozenset({"Running", "Succeeded", "Failed"})


class Backoff:
    """Delays for reconnecting: 0.5 s, doubling up to 5 s, back to 0.5 s after a success."""

    def __init__(self, first: float = RETRY_FIRST, most: float = RETRY_MAX) -> None:
        self.first, self.most = first, most
        self.delay = first

    def reset(self) -> None:
        self.delay = self.first

    async def sleep(self) -> None:
        delay, self.delay = self.delay, min(self.delay * 2, self.most)
        await asyncio.sleep(delay)


def rank0(job: dict[str, Any]) -> dict[str, Any] | None:
    """The pod whose log the widget shows: the driver, the master, or rank 0."""
    rows = view.rank_rows(job)
    return rows[0] if rows else None


def _permanent(err: GatewayRequestError) -> bool:
    """A refusal that reconnecting will not change (no such job, not yours, bad token)."""
    return err.status is not None and 400 <= err.status < 500 and err.status not in (408, 409, 429)


class JobFollower:
    """Follows one job for one widget. Must be created while an event loop runs."""

    def __init__(self, gateway: Gateway, widget: JobWidget) -> None:
        self.loop = asyncio.get_running_loop()
        self.gateway = gateway
        self.widget = widget
        self.job_id = widget.job_id
        self.latest: dict[str, Any] = dict(widget.job)
        self._task: asyncio.Task | None = None
        self._logs: asyncio.Task | None = None
        self._log_pod: tuple[Any, Any] | None = None
        self._why = "stopped"
        self._reconnecting = False

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        self._task = self.loop.create_task(self._run(), name=f"fedspawner-follow-{self.job_id}")

    def stop(self, why: str = "stopped") -> None:
        """Stop reading the job's status and logs (the job keeps running)."""
        self._why = why
        if self._task is not None and not self._task.done():
            self._task.cancel()

    async def _run(self) -> None:
        widget = self.widget
        widget.following = True
        clock = self.loop.create_task(self._clock())
        try:
            await self._watch()
            if self._logs is not None:  # the last lines of a finished job
                await asyncio.wait({self._logs}, timeout=LOG_DRAIN_SECONDS)
            widget.set_status("")
        except BaseException:  # cancelled, or a KeyboardInterrupt that landed here
            if not is_finished(widget.job):
                widget.set_status(f"Stopped following ({self._why}); the job itself is untouched. "
                                  f"%fedattach {self.job_id} follows it again.")
            raise
        finally:
            for task in (clock, self._logs):
                if task is not None:
                    task.cancel()
            widget.flush()
            widget.tick()
            widget.following = False

    async def _clock(self) -> None:
        while True:
            self.widget.tick()
            await asyncio.sleep(1.0)

    # --- status ---------------------------------------------------------------------------------

    async def _watch(self) -> None:
        backoff = Backoff()
        while True:
            try:
                async for job in self.gateway.watch(self.job_id):
                    if self._reconnecting:
                        self._reconnecting = False
                        self.widget.set_status("")
                    backoff.reset()
                    self._show(job)
                    if is_finished(job):
                        return
                why = "the gateway closed the stream"
            except GatewayRequestError as err:
                if _permanent(err):
                    self._gone(err)
                    return
                why = err.message
            if is_finished(self.latest):
                return
            self._reconnecting = True
            self.widget.set_status(f"Reconnecting in {backoff.delay:g} s: {why}")
            await backoff.sleep()

    def _show(self, job: dict[str, Any]) -> None:
        self.latest = job
        self.widget.update(job)
        self._follow_logs(job)

    def _gone(self, err: GatewayRequestError) -> None:
        if err.status == 404 and not is_finished(self.latest):
            self.widget.update(dict(self.latest, phase="Cancelled",
                                    message="The job no longer exists on its cluster: it was cancelled or "
                                            "removed."))
        else:
            self.widget.set_status(err.message)

    # --- rank 0's log ---------------------------------------------------------------------------

    def _follow_logs(self, job: dict[str, Any]) -> None:
        pod = rank0(job)
        if pod is None or (pod["phase"] not in _STARTED and not is_finished(job)):
            return
        key = (job.get("cluster"), pod["name"])
        if key == self._log_pod and self._logs is not None:
            return
        if self._logs is not None:
            self._logs.cancel()
        self._log_pod = key
        self._logs = self.loop.create_task(self._read_logs(), name=f"fedspawner-logs-{self.job_id}")

    def _log_complete(self) -> bool:
        pod = rank0(self.latest)
        return is_finished(self.latest) or (pod is not None and pod["phase"] in ("Succeeded", "Failed"))

    async def _read_logs(self) -> None:
        backoff = Backoff()
        while True:
            complete = self._log_complete()
            fresh = True
            try:
                async for line in self.gateway.logs(self.job_id, rank=0, tail=self.widget.tail_lines,
                                                    follow=not complete):
                    if fresh:
                        self.widget.reset_log()
                        fresh = False
                        backoff.reset()
                    self.widget.add_log_lines([line])
            except GatewayRequestError as err:
                if _permanent(err):
                    return
            if complete:  # a finished pod's log is read once (and not again after an error)
                return
            await backoff.sleep()
