"""Live progress of Spark queries under the running cell, and the session's Spark UI link.

A Spark Connect server streams each query's execution progress to the client (stages with
tasks done of total and bytes read, tasks running); pyspark passes it to the handlers
registered with ``SparkSession.registerProgressHandler``. ``QueryProgress`` is such a handler:
for each query it puts one display under the cell that runs it, updates it in place (at most
once per ``interval`` seconds; the last state is never dropped) and, when the query ends,
leaves one line saying what it did. Queries that start no Spark job (a local relation, a
schema) show nothing. ``attach`` registers one on a session.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["QueryProgress", "Snapshot", "StageState", "attach", "progress_html", "progress_text",
           "show_with_ui_link"]

_E = html.escape


@dataclass(frozen=True)
class StageState:
    """One stage of a query: its id, tasks done of total, bytes read, whether it is done."""

    stage_id: int
    tasks: int
    completed: int
    bytes_read: int
    done: bool


@dataclass(frozen=True)
class Snapshot:
    """What a query's progress display shows at one moment."""

    stages: tuple[StageState, ...] = ()
    running: int = 0
    elapsed: float = 0.0
    done: bool = False
    ui_url: str | None = None

    @property
    def tasks(self) -> int:
        return sum(s.tasks for s in self.stages)

    @property
    def completed(self) -> int:
        return sum(s.completed for s in self.stages)

    @property
    def bytes_read(self) -> int:
        return sum(s.bytes_read for s in self.stages)

    @property
    def stages_done(self) -> int:
        return sum(s.done for s in self.stages)

    def key(self) -> tuple:
        """What the display shows, without the clock (equal keys: nothing to redraw)."""
        return self.stages, self.running, self.done


def size_text(count: int) -> str:
    """Bytes for people: "512 B", "1.5 KiB", "12.0 MiB"."""
    value, unit = float(count), "B"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            break
        value /= 1024
    return f"{count} B" if unit == "B" else f"{value:.1f} {unit}"


def progress_text(snap: Snapshot) -> str:
    """One line: stages, tasks done of total (running), bytes read, time."""
    stages = len(snap.stages)
    if snap.done:
        return (f"Spark: {stages} stage{'s' * (stages != 1)}, {snap.completed}/{snap.tasks} tasks, "
                f"{size_text(snap.bytes_read)} read in {snap.elapsed:.1f}s")
    return (f"Spark: stage {min(snap.stages_done + 1, stages)} of {stages} · tasks {snap.completed}/{snap.tasks} "
            f"({snap.running} running) · {size_text(snap.bytes_read)} read · {snap.elapsed:.1f}s")


def _ui_link(ui_url: str | None) -> str:
    if not ui_url:
        return ""
    return f' · <a href="{_E(ui_url)}" target="_blank" rel="noopener">Spark UI ↗</a>'


def _stage_row(stage: StageState) -> str:
    share = 100 * stage.completed / stage.tasks if stage.tasks else 0
    colour = "#2e7d32" if stage.done else "#1976d2"
    return ('<div style="display:flex;align-items:center;gap:8px;font-size:12px">'
            f'<span style="width:70px">stage {stage.stage_id}</span>'
            '<span style="flex:0 0 200px;height:8px;background:#e0e0e0;border-radius:4px;overflow:hidden">'
            f'<span style="display:block;height:100%;width:{share:.0f}%;background:{colour}"></span></span>'
            f'<span>{stage.completed}/{stage.tasks}{" ✓" if stage.done else ""}</span></div>')


def progress_html(snap: Snapshot) -> str:
    """The display: the summary line (with the Spark UI link) and, while running, a bar per stage."""
    state = "done" if snap.done else "running"
    head = (f'<div style="color:#37474f">{_E(progress_text(snap))}{_ui_link(snap.ui_url)}</div>')
    bars = "" if snap.done else "".join(_stage_row(s) for s in snap.stages)
    return f'<div class="fedspark-progress" data-state="{state}" style="padding:2px 0">{head}{bars}</div>'


def _display(bundle: dict[str, str]) -> Any:
    from IPython.display import display

    return display(bundle, raw=True, display_id=True)


def _bundle(snap: Snapshot) -> dict[str, str]:
    return {"text/html": progress_html(snap), "text/plain": progress_text(snap)}


@dataclass
class _Query:
    started: float
    handle: Any = None
    shown_at: float | None = None
    shown: tuple | None = None
    last: Snapshot = field(default_factory=Snapshot)


class QueryProgress:
    """A pyspark progress handler that shows each query's progress under the running cell.

    ``display(bundle)`` shows a MIME bundle and returns a handle with ``update(bundle, raw=True)``
    (IPython's ``display(..., display_id=True)`` by default); ``clock`` gives seconds. Both are
    injectable for tests.
    """

    def __init__(self, ui_url: str | None = None, *, interval: float = 0.25,
                 display: Callable[[dict[str, str]], Any] = _display,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ui_url = ui_url
        self.interval = interval
        self._display = display
        self._clock = clock
        self._queries: dict[str | None, _Query] = {}
        self._latest: str | None = None
        self.renders = 0

    def __call__(self, stages: Iterable[Any] | None, inflight_tasks: int, operation_id: str | None,
                 done: bool) -> None:
        """pyspark's callback: a query's stages now (``done``: the query ended)."""
        key = operation_id if operation_id in self._queries or not done else self._latest
        now = self._clock()
        query = self._queries.get(key)
        if query is None:
            if done:  # a query that started no Spark job: nothing to show
                return
            query = self._queries[key] = _Query(started=now)
            self._latest = key
        states = tuple(StageState(s.stage_id, s.num_tasks, s.num_completed_tasks, s.num_bytes_read, s.done)
                       for s in stages or ())
        snap = Snapshot(states or query.last.stages, inflight_tasks, now - query.started, done, self.ui_url)
        query.last = snap
        if done:
            self._queries.pop(key, None)
        elif query.shown_at is not None and (now - query.shown_at < self.interval or snap.key() == query.shown):
            return
        self._show(query, snap, now)

    def _show(self, query: _Query, snap: Snapshot, now: float) -> None:
        if not snap.stages:
            return
        if query.handle is None:
            query.handle = self._display(_bundle(snap))
        else:
            query.handle.update(_bundle(snap), raw=True)
        query.shown_at, query.shown = now, snap.key()
        self.renders += 1


def attach(spark: Any, ui_url: str | None = None) -> QueryProgress | None:
    """Show the progress of every query of ``spark`` (a Spark Connect ``SparkSession``) under the cell
    running it; the handler, or None outside a kernel or for a client without progress reports."""
    from .output import in_kernel

    register = getattr(spark, "registerProgressHandler", None)
    if register is None or not in_kernel():
        return None
    handler = QueryProgress(ui_url)
    register(handler)
    return handler


def show_with_ui_link(text: str, ui_url: str | None) -> None:
    """A line of information with the session's Spark UI link after it."""
    from IPython.display import display

    link = _ui_link(ui_url).removeprefix(" · ")
    display({"text/html": f'<div style="color:#37474f;padding:2px 0">{_E(text)} {link}</div>',
             "text/plain": f"{text} Spark UI: {ui_url}" if ui_url else text}, raw=True)
