"""Kubernetes timestamps (``2026-12-07T10:00:00Z``) as epoch seconds, in one place."""

from __future__ import annotations

from datetime import datetime


def epoch(ts: str | None) -> float | None:
    """Epoch seconds of a Kubernetes timestamp, None when absent or malformed."""
    if not isinstance(ts, str) or not ts:
        return None
    try:
        return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
