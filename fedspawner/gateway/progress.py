"""Training progress from a job's log: the last ``FEDSPAWNER_PROGRESS`` line (pure).

Scripts report progress with ``fedspawner_progress.progress(step, total, **metrics)``
(shipped in every job's ConfigMap), which prints one JSON line after the marker. Lines
may carry a prefix (torchrun's ``[rank0]:``, a timestamp); anything malformed is skipped.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

from ..jobs.fedspawner_progress import MARKER

_PREFIX = MARKER + " "


def parse_line(line: str) -> dict | None:
    """The progress in one log line, as the API shows it, or None."""
    at = line.find(_PREFIX)
    if at < 0:
        return None
    try:
        data = json.loads(line[at + len(_PREFIX):].strip())
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("step"), int):
        return None
    total = data.get("total")
    metrics = data.get("metrics") if isinstance(data.get("metrics"), dict) else {}
    when = data.get("time")
    stamp = None
    if isinstance(when, (int, float)):
        stamp = datetime.fromtimestamp(when, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {"step": data["step"], "total": total if isinstance(total, int) else None,
            "metrics": metrics, "time": stamp}


def last_progress(text: str) -> dict | None:
    """The last valid progress line of a log excerpt, or None."""
    for line in reversed(text.splitlines()):
        if MARKER in line:
            found = parse_line(line)
            if found is not None:
                return found
    return None
