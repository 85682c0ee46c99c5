"""Predicted time to admission in a Kueue queue, from the queue's recent admissions (pure).

Kueue stamps each Workload with its creation time and, once admitted, the time of its
``Admitted`` condition. From the recent admissions of a queue this module predicts how long
a job would wait there now:

- nobody waits ahead and the quota has room (or the hub cannot see the quota): about the
  typical recent wait of an admission (near zero on an idle queue);
- otherwise each workload ahead, and the job itself when the quota is full, waits for one
  admission slot: ``(ahead + 1)`` times the typical gap between two recent admissions.

With no admissions to go by the prediction is ``None`` when the job would have to wait,
and ``0`` when the quota visibly has room and nobody is ahead.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from .timestamps import epoch

#: Recent admissions kept per queue.
RECENT = 20


@dataclass(frozen=True)
class Admission:
    """One admission seen: when its workload was created and when Kueue admitted it (epoch seconds)."""

    uid: str
    queue: str
    created: float
    admitted: float

    @property
    def wait(self) -> float:
        return max(self.admitted - self.created, 0.0)


@dataclass(frozen=True)
class WaitPrediction:
    """The predicted wait in seconds (None: nothing to go by) and, for people, what it rests on;
    ``blocked``: something is known to stand in the way (workloads ahead, a full quota)."""

    seconds: float | None
    basis: str
    blocked: bool = True

    def words(self) -> str:
        """``predicted wait ~40 s (3 ahead, one admission every ~12 s)`` or ``wait unknown (…)``."""
        if self.seconds is None:
            return f"wait unknown ({self.basis})"
        return f"predicted wait ~{_show(self.seconds)} ({self.basis})"

    def sort_key(self) -> float:
        """Seconds to sort by: an unknown wait with nothing in the way as none, any other unknown wait
        after every known one."""
        if self.seconds is None:
            return float("inf") if self.blocked else 0.0
        return self.seconds


def _show(seconds: float) -> str:
    if seconds < 90:
        return f"{max(round(seconds), 0)} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def admission_of(workload: dict) -> Admission | None:
    """The admission a Workload records (its ``Admitted`` condition turned True), else None."""
    meta = workload.get("metadata") or {}
    cond = next((c for c in (workload.get("status") or {}).get("conditions") or []
                 if c.get("type") == "Admitted" and c.get("status") == "True"), None)
    created, admitted = epoch(meta.get("creationTimestamp")), epoch((cond or {}).get("lastTransitionTime"))
    if created is None or admitted is None:
        return None
    return Admission(uid=meta.get("uid") or meta.get("name") or "",
                     queue=(workload.get("spec") or {}).get("queueName") or "", created=created, admitted=admitted)


def merge(known: list[Admission], seen: list[Admission], keep: int = RECENT) -> list[Admission]:
    """``known`` with the admissions in ``seen`` it lacks, by admission time, the newest ``keep``."""
    have = {a.uid for a in known}
    merged = sorted([*known, *(a for a in seen if a.uid not in have)], key=lambda a: a.admitted)
    return merged[-keep:]


def predict_wait(recent: list[Admission], ahead: int, fits_now: bool | None) -> WaitPrediction:
    """The wait of a job with ``ahead`` workloads before it in its queue; ``fits_now``: whether the
    queue's free quota holds the job now (None: the hub cannot see the quota)."""
    waits = [a.wait for a in recent]
    times = sorted(a.admitted for a in recent)
    gaps = [b - a for a, b in zip(times, times[1:])]
    if ahead <= 0 and fits_now is not False:
        if waits:
            return WaitPrediction(statistics.median(waits),
                                  f"nobody ahead; median of {len(waits)} recent admissions")
        if fits_now:
            return WaitPrediction(0.0, "nobody ahead and quota free now")
        return WaitPrediction(None, "nobody ahead, but no recent admissions and its quota is not visible",
                              blocked=False)
    slots = ahead + (1 if fits_now is False else 0)
    said = f"{ahead} ahead" + ("" if fits_now is not False else ", quota full")
    if gaps:
        gap = statistics.median(gaps)
        return WaitPrediction(slots * gap, f"{said}; one admission every ~{_show(gap)} recently")
    if waits:
        return WaitPrediction(slots * statistics.median(waits),
                              f"{said}; from {len(waits)} recent admission{'s' if len(waits) > 1 else ''}")
    return WaitPrediction(None, f"{said}; no recent admissions to go by")
