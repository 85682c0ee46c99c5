"""``Throttle``: run a callback at most once per interval, never dropping the last change.

The widget's state changes in bursts (a watch line, then dozens of log lines in
the same millisecond). Each change pokes the throttle; the first poke after a
quiet spell runs the callback at once (no added latency), and pokes inside the
interval are folded into one trailing run at the end of it, which sees the
latest state. Trailing runs are scheduled on the asyncio event loop that is
running when poked (the kernel's), so the callback always runs on it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

__all__ = ["Throttle"]


class Throttle:
    """Calls ``callback`` at most once every ``interval`` seconds, trailing edge included.

    An urgent poke (a phase change, which people wait for) only keeps
    ``urgent_interval`` from the previous run, so it is shown almost at once;
    urgent changes are rare (the gateway sends status lines at most every
    0.25 s), so they cannot flood the frontend.

    ``clock`` and ``call_later(delay, fn)`` are injectable for tests; by default
    they are ``time.monotonic`` and the running loop's ``call_later`` (without a
    running loop, every poke runs the callback at once).
    """

    def __init__(self, interval: float, callback: Callable[[], None], *, urgent_interval: float = 0.05,
                 clock: Callable[[], float] = time.monotonic,
                 call_later: Callable[[float, Callable[[], None]], object] | None = None) -> None:
        self.interval = interval
        self.urgent_interval = min(urgent_interval, interval)
        self.callback = callback
        self.clock = clock
        self._call_later = call_later
        self._last: float | None = None
        self._scheduled: object | None = None
        self._due = 0.0
        self.calls = 0

    @property
    def pending(self) -> bool:
        """Whether a trailing run is scheduled."""
        return self._scheduled is not None

    def poke(self, urgent: bool = False) -> None:
        """Note a change: run now if the interval has passed, else make sure a trailing run comes."""
        now = self.clock()
        gap = self.urgent_interval if urgent else self.interval
        wait = 0.0 if self._last is None else self._last + gap - now
        if self._scheduled is not None:
            if self._due <= now + wait:
                return
            self.cancel()  # an urgent change moves the pending run forward
        if wait <= 0:
            self._run()
            return
        call_later = self._call_later
        if call_later is None:
            try:
                call_later = asyncio.get_running_loop().call_later
            except RuntimeError:  # no event loop (plain Python): nothing could run later
                self._run()
                return
        self._due = now + wait
        self._scheduled = call_later(wait, self._run)

    def flush(self) -> None:
        """Run now if a trailing run is pending (e.g. before the last update of a finished job)."""
        if self._scheduled is not None:
            self.cancel()
            self._run()

    def cancel(self) -> None:
        """Forget a pending trailing run."""
        handle, self._scheduled = self._scheduled, None
        if hasattr(handle, "cancel"):
            handle.cancel()

    def _run(self) -> None:
        self._scheduled = None
        self._last = self.clock()
        self.calls += 1
        self.callback()
