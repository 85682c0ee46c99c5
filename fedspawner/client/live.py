"""The job widgets open in this kernel, for whoever needs to reach them all.

``widget.JobWidget`` adds itself here; ``Gateway.cancel`` (any cancellation: ``%fedcancel``,
``Job.cancel``, a widget's button) and unloading the extension reach the open widgets
through this module, without importing the widget module (and ipywidgets) themselves.
"""

from __future__ import annotations

import weakref
from typing import Any

from ..jobs.vocabulary import FINISHED

__all__ = ["LIVE", "job_cancelled", "live_widgets"]

#: The widgets of this kernel (held weakly: a widget nobody shows any more goes away).
LIVE: weakref.WeakSet[Any] = weakref.WeakSet()


def live_widgets(job_id: str | None = None) -> list[Any]:
    """The open widgets of this kernel (of one job when ``job_id`` is given)."""
    return [w for w in list(LIVE) if not w.closed and (job_id is None or w.job_id == job_id)]


def job_cancelled(data: dict[str, Any]) -> None:
    """Show a cancellation (from ``%fedcancel``, ``Job.cancel`` or a button) in every widget of the job."""
    final = dict(data, phase=data.get("phase") if data.get("phase") in FINISHED else "Cancelled")
    for widget in live_widgets(data.get("id")):
        widget.update(final)
        widget.flush()
        widget.stop("cancelled")
