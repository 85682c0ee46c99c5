"""``JobWidget``: a job's live status in the notebook, from stock ipywidgets.

The widget shows name, kind, cluster and GPUs, the phase, one row per pod,
elapsed time, training progress, the last lines of rank 0's log, a Cancel
button and a link to the Spark UI when there is one. Its state is also kept in
traits (``phase``, ``cluster``, ``ranks``, ``progress``, ``log_tail``, …) that
code and tests can observe.

Updates arrive from a ``JobFollower`` on the kernel's event loop and go through
a ``Throttle``: the first change after a quiet spell is shown at once, bursts
(log lines above all) are folded into at most one render per ``interval``
(0.25 s), and a phase change (of the job or a pod) waits at most 0.05 s after
the previous render. Nothing here starts a thread.
"""

from __future__ import annotations

import asyncio
import html
import time
from collections import deque
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
from traitlets import Bool, Dict, Float, Int, List, Unicode

from ..jobs.fedspawner_progress import MARKER as PROGRESS_MARKER
from ..jobs.vocabulary import is_finished
from . import view
from .errors import GatewayRequestError
from .live import LIVE, job_cancelled, live_widgets
from .throttle import Throttle

if TYPE_CHECKING:
    from .gateway import Gateway

__all__ = ["JobWidget", "job_cancelled", "live_widgets"]

#: Seconds a first click on Cancel waits for the confirming second click.
CONFIRM_SECONDS = 5.0


class JobWidget(widgets.VBox):
    """The live status of one job; ``follow()`` starts updating it from the gateway."""

    job_id = Unicode(help="The job's id.")
    name = Unicode(help="The job's name.")
    kind = Unicode(help="pytorch, spark, job, …")
    cluster = Unicode(None, allow_none=True, help="The member cluster the job runs on.")
    gpu_type = Unicode(None, allow_none=True, help="The canonical GPU type, None for CPU jobs.")
    phase = Unicode(help="Pending, Running, Succeeded, Failed or Cancelled.")
    message = Unicode(help="The gateway's human-readable message about the job.")
    ranks = List(help="One dict per pod: rank, role, name, phase, node, restarts, ready, reason.")
    elapsed = Float(None, allow_none=True, help="Seconds the job has run (or waited, while pending).")
    progress = Dict(None, allow_none=True, help="The job's last reported progress (step, total, metrics).")
    ui_url = Unicode(None, allow_none=True, help="The Spark UI, where there is one.")
    log_tail = Unicode(help="The last lines of rank 0's log (the driver's for Spark).")
    status = Unicode(help="What the widget itself is doing: following, reconnecting, stopped.")
    following = Bool(False, help="Whether the widget is following the job.")
    phase_history = List(help="Every phase shown, in order.")
    job = Dict(help="The Job dict last shown.")
    renders = Int(0, help="How many times the widget was re-rendered (throttled).")

    def __init__(self, job: dict[str, Any], gateway: Gateway, *, interval: float = 0.25,
                 tail_lines: int = 200) -> None:
        self._header = widgets.HTML()
        self._elapsed = widgets.HTML()
        self._message = widgets.HTML()
        self._bar = widgets.IntProgress(min=0, max=1, value=0, layout=widgets.Layout(width="40%"))
        self._bar_label = widgets.HTML()
        self._progress = widgets.HBox([self._bar, self._bar_label], layout=widgets.Layout(display="none"))
        self._ranks = widgets.HTML()
        self._logs = widgets.HTML()
        self.cancel_button = widgets.Button(description="Cancel job", icon="stop", button_style="warning",
                                            tooltip="Cancel the job: delete all its objects on its cluster")
        self._ui_link = widgets.HTML()
        super().__init__([widgets.HBox([self._header, self._elapsed]), self._message, self._progress,
                          self._ranks, self._logs, widgets.HBox([self.cancel_button, self._ui_link])])
        self.gateway = gateway
        self.tail_lines = tail_lines
        self._closed = False
        self._pending: dict[str, Any] | None = job
        self._log: deque[str] = deque(maxlen=tail_lines)
        self._log_dirty = False
        self._confirm_until = 0.0
        self._follower = None
        self._throttle = Throttle(interval, self._render)
        self.cancel_button.on_click(self._on_cancel_click)
        self._render()
        LIVE.add(self)

    # --- fed by the follower ------------------------------------------------------------------------

    def update(self, job: dict[str, Any]) -> None:
        """A new Job dict: shown at once, or at the end of the current throttle interval (sooner when
        the job's or a pod's phase changed)."""
        self._pending = job
        self._throttle.poke(urgent=view.phases(job) != view.phases(self.job))

    def add_log_lines(self, lines: list[str]) -> None:
        """More lines of rank 0's log; only the last ``tail_lines`` are kept.

        Progress reports (``FEDSPAWNER_PROGRESS {...}`` lines) are left out: the progress bar shows them.
        """
        lines = [line for line in lines if not line.startswith(PROGRESS_MARKER)]
        if lines:
            self._log.extend(lines)
            self._log_dirty = True
            self._throttle.poke()

    def reset_log(self) -> None:
        """Forget the log lines (a new log stream starts with its own tail)."""
        self._log.clear()
        self._log_dirty = True

    def set_status(self, text: str) -> None:
        """The widget's own status line (following, reconnecting, …)."""
        self.status = text
        self._message.value = view.message_html(self.job, text)

    def tick(self) -> None:
        """Refresh the elapsed time (the follower calls this every second while the job runs)."""
        self.elapsed = view.elapsed_seconds(self.job)
        self._elapsed.value = f"&nbsp;⏱ {view.format_duration(self.elapsed)}"

    def flush(self) -> None:
        """Render a pending update now."""
        self._throttle.flush()

    # --- rendering ----------------------------------------------------------------------------------

    def _render(self) -> None:
        job, self._pending = self._pending, None
        if job is not None:
            self._show_job(job)
        if self._log_dirty:
            self._log_dirty = False
            self.log_tail = "\n".join(self._log)
            leader = str((self.job or {}).get("leader") or "rank 0")
            self._logs.value = view.log_html(self._log, f"{leader} log (last {self.tail_lines} lines)")
        self.renders += 1

    def _show_job(self, job: dict[str, Any]) -> None:
        self.job = job
        self.job_id = str(job.get("id") or "")
        self.name = str(job.get("name") or "")
        self.kind = str(job.get("kind") or "")
        self.cluster = job.get("cluster")
        self.gpu_type = job.get("gpu_type")
        self.message = str(job.get("message") or "")
        self.ranks = view.rank_rows(job)
        self.progress = job.get("progress") if isinstance(job.get("progress"), dict) else None
        self.ui_url = job.get("ui_url") or None
        phase = str(job.get("phase") or "")
        if phase != self.phase:
            self.phase_history = [*self.phase_history, phase]
        self.phase = phase
        self._header.value = view.header_html(job)
        self._message.value = view.message_html(job, self.status)
        self._ranks.value = view.ranks_html(self.ranks)
        shown = view.progress_view(self.progress)
        if shown is None:
            self._progress.layout.display = "none"
        else:
            self._bar.max, self._bar.value = max(shown[1], 1), shown[0]
            self._bar_label.value = f"&nbsp;{shown[2]}"
            self._progress.layout.display = ""
        self._ui_link.value = (f'&nbsp;<a href="{html.escape(self.ui_url)}" target="_blank" '
                               'rel="noopener">Spark UI ↗</a>' if self.ui_url else "")
        self.cancel_button.disabled = is_finished(job)
        self.tick()

    # --- following ----------------------------------------------------------------------------------

    def follow(self) -> None:
        """Start following the job on the running event loop (no-op when already following)."""
        if self._follower is not None and self._follower.running:
            return
        from .follow import JobFollower

        try:
            self._follower = JobFollower(self.gateway, self)
            self._follower.start()
        except RuntimeError:
            self.set_status("not following: no running event loop (use a Jupyter kernel)")

    def stop(self, why: str = "stopped") -> None:
        """Stop following; the job itself is untouched."""
        if self._follower is not None:
            self._follower.stop(why)

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Stop following and close the widget and every part of it."""
        self._closed = True
        self._throttle.cancel()
        self.stop()
        LIVE.discard(self)
        parts = list(self.children)
        while parts:
            part = parts.pop()
            parts.extend(getattr(part, "children", ()))
            part.close()
        super().close()

    # --- the Cancel button --------------------------------------------------------------------------

    def _on_cancel_click(self, _button: widgets.Button | None = None) -> None:
        """First click arms the button for ``CONFIRM_SECONDS``, a second one cancels the job."""
        now = time.monotonic()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if now >= self._confirm_until:
            self._confirm_until = now + CONFIRM_SECONDS
            self.cancel_button.description = "Click again to cancel"
            self.cancel_button.button_style = "danger"
            if loop is not None:
                loop.call_later(CONFIRM_SECONDS, self._disarm)
            return
        self._confirm_until = 0.0
        self.cancel_button.disabled = True
        self.cancel_button.description = "Cancelling…"
        if loop is not None:
            loop.create_task(self._cancel())
        else:
            asyncio.run(self._cancel())

    async def _cancel(self) -> None:
        try:
            await self.gateway.acancel(self.job_id)  # which updates every widget of the job
        except GatewayRequestError as err:
            self.set_status(f"Cancel failed: {err.message}")
        finally:
            self._confirm_until = 0.0
            self._disarm()

    def _disarm(self) -> None:
        if time.monotonic() < self._confirm_until:
            return
        self.cancel_button.description = "Cancel job"
        self.cancel_button.button_style = "warning"
        self.cancel_button.disabled = is_finished(self.job)
