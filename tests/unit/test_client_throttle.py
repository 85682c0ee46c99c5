"""``Throttle``: leading edge at once, bursts folded into one trailing run, nothing lost."""

from __future__ import annotations

import asyncio
import time

from fedspawner.client.throttle import Throttle
from fedspawner.client.widget import JobWidget
from tests.unit.client_stub import make_job


class FakeTime:
    """A clock and a ``call_later`` the test advances by hand."""

    def __init__(self) -> None:
        self.now = 100.0
        self.timers: list[list] = []

    def clock(self) -> float:
        return self.now

    def call_later(self, delay, fn):
        timer = [self.now + delay, fn, False]
        self.timers.append(timer)

        class Handle:
            def cancel(self_inner):
                timer[2] = True
        return Handle()

    def advance(self, seconds: float) -> None:
        self.now += seconds
        for timer in [t for t in self.timers if t[0] <= self.now and not t[2]]:
            timer[2] = True
            timer[1]()


def throttle(fake: FakeTime, calls: list) -> Throttle:
    return Throttle(0.25, lambda: calls.append(fake.now), clock=fake.clock, call_later=fake.call_later)


def test_leading_edge_runs_at_once():
    fake, calls = FakeTime(), []
    t = throttle(fake, calls)
    t.poke()
    assert calls == [100.0] and not t.pending


def test_burst_is_folded_into_one_trailing_run():
    fake, calls = FakeTime(), []
    t = throttle(fake, calls)
    t.poke()
    for _ in range(50):
        fake.advance(0.001)
        t.poke()
    assert len(calls) == 1 and t.pending and len(fake.timers) == 1
    fake.advance(0.3)  # the trailing run is due 0.25 s after the first one
    assert len(calls) == 2 and not t.pending
    # quiet again: the next change shows at once
    fake.advance(1.0)
    t.poke()
    assert len(calls) == 3 and calls[2] == fake.now


def test_never_more_than_one_run_per_interval():
    fake, calls = FakeTime(), []
    t = throttle(fake, calls)
    for _ in range(1000):
        t.poke()
        fake.advance(0.01)
    gaps = [b - a for a, b in zip(calls, calls[1:])]
    assert len(calls) <= 10 / 0.25 + 1 and min(gaps) >= 0.25 - 1e-9


def test_urgent_change_moves_the_pending_run_forward():
    fake, calls = FakeTime(), []
    t = throttle(fake, calls)
    t.poke()  # runs at 100.0
    fake.advance(0.01)
    t.poke()  # a log line: trailing run due at 100.25
    fake.advance(0.01)
    t.poke(urgent=True)  # a phase change: due 0.05 s after the last run instead
    fake.advance(0.03)
    assert len(calls) == 2 and abs(calls[1] - 100.05) < 1e-9
    assert [timer[2] for timer in fake.timers] == [True, True]  # the 100.25 timer was cancelled
    t.poke(urgent=True)  # urgent still keeps the short gap
    assert t.pending and len(calls) == 2
    fake.advance(0.05)
    assert len(calls) == 3


def test_flush_and_cancel():
    fake, calls = FakeTime(), []
    t = throttle(fake, calls)
    t.poke()
    t.poke()
    t.flush()
    assert len(calls) == 2 and not t.pending
    fake.advance(0.3)
    assert len(calls) == 2  # the cancelled timer does not run again
    fake.advance(1)
    t.poke()
    t.poke()
    t.cancel()
    fake.advance(1)
    assert len(calls) == 3


def test_without_an_event_loop_every_poke_runs():
    calls = []
    t = Throttle(10.0, lambda: calls.append(1))
    t.poke()
    t.poke()
    assert calls == [1, 1]


async def test_widget_renders_bursts_throttled_on_the_running_loop():
    w = JobWidget(make_job(), gateway=None, interval=0.1)
    start = w.renders
    began = time.monotonic()
    for i in range(500):
        w.add_log_lines([f"line {i}"])
        if i % 100 == 0:
            w.update(make_job(phase="Running", message=f"step {i}"))
    assert w.renders == start + 1  # the first change is shown at once, the rest wait
    await asyncio.sleep(0.25)
    assert w.renders == start + 2  # ... and are shown together, once
    assert w.log_tail.endswith("line 499") and len(w.log_tail.splitlines()) == 200
    assert w.message == "step 400" and time.monotonic() - began < 1.0


async def test_widget_shows_a_phase_change_sooner_than_log_lines():
    w = JobWidget(make_job(), gateway=None, interval=0.25)
    w.add_log_lines(["a"])  # renders now
    w.add_log_lines(["b"])  # waits for the interval
    began = time.monotonic()
    w.update(make_job(phase="Running"))
    await asyncio.sleep(0.1)
    assert w.phase == "Running" and w.log_tail == "a\nb" and time.monotonic() - began < 0.2
