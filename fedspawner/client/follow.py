"""``JobFollower``: keeps a ``JobWidget`` up to date, as asyncio tasks on the kernel's loop.

Three tasks run on the event loop that is running when following starts (in
ipykernel ≥ 6 the kernel's own loop, so widget traits are only ever touched
from it and no thread is involved):

- the watch: reads the gateway's NDJSON ``/jobs/{id}/watch`` stream and hands
  every Job dict to the widget; when the stream breaks or goes silent before
  the job has ended (gateway restart, network), ``streams.WatchFollow``
  reconnects with backoff, and the first line of the new stream is the whole
  current state;
- the log tail: once rank 0's pod has started, follows its log (``tail`` lines
  first) with ``streams.LogFollow``, which goes on from the last line shown
  after a reconnect, and starts over when rank 0's pod changes (a failover to
  another cluster);
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
from .streams import permanent

if TYPE_CHECKING:
    from .gateway import Gateway
    from .widget import JobWidget

__all__ = ["JobFollower"]

#: How long a finished job's last log lines may take to arrive before following ends.
LOG_DRAIN_SECONDS = 15.0
_STARTED = frozenset({"Running", "Succeeded", "Failed"})


def rank0(job: dict[str, Any]) -> dict[str, Any] | None:
    """The pod whose log the widget shows: the driver, the master, or rank 0."""
    rows = view.rank_rows(job)
    return rows[0] if rows else None


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
        stream = self.gateway.watch(self.job_id)
        stream.on_retry = self._retrying
        try:
            async for job in stream:
                if self._reconnecting:
                    self._reconnecting = False
                    self.widget.set_status("")
                self._show(job)
                if is_finished(job):
                    return
        except GatewayRequestError as err:  # only what reconnecting cannot change
            self._gone(err)

    def _retrying(self, why: str, delay: float) -> None:
        self._reconnecting = True
        self.widget.set_status(f"Reconnecting in {delay:g} s: {why}")

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
        """Rank 0's log into the widget: the last ``tail_lines`` first, then every new line once (a
        finished pod's log is read once)."""
        fresh = True
        try:
            async for line in self.gateway.logs(self.job_id, rank=0, tail=self.widget.tail_lines,
                                                follow=not self._log_complete()):
                if fresh:  # a new pod's log replaces the previous one's
                    self.widget.reset_log()
                    fresh = False
                self.widget.add_log_lines([line])
        except GatewayRequestError as err:
            if not permanent(err):
                self.widget.set_status(f"The log could not be read: {err.message}")
