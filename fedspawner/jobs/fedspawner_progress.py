"""Report a job's training progress to the notebook that sent it.

This file travels with every job: the renderers put it in the job's script
ConfigMap (mounted at ``/fedspawner/script``, which is on ``PYTHONPATH``), so a
script running in any image can write::

    from fedspawner_progress import progress
    progress(step, total, loss=loss.item())

Each call prints one line to stdout, flushed at once::

    FEDSPAWNER_PROGRESS {"step": 10, "total": 100, "metrics": {"loss": 0.3}, "time": 1764000000.0}

The gateway reads the last such line of rank 0's log (a Spark job's driver)
and shows it as the job's progress. The module uses the standard library only
and stays compatible with Python 3.8, because it runs in the job's image.
"""

import json
import math
import sys
import time

__all__ = ["MARKER", "progress"]

#: The word that starts every progress line.
MARKER = "FEDSPAWNER_PROGRESS"


def _plain(value):
    """A JSON-ready metric: numbers (tensors, numpy scalars) as floats, others as text."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)[:200]
    return number if math.isfinite(number) else str(number)


def progress(step, total=None, **metrics):
    """Print one progress line: the step reached, the steps in all (if known) and metrics.

    ``step`` and ``total`` are whole numbers (``total`` may be None);
    ``metrics`` are name=value pairs such as ``loss=0.31, accuracy=0.9``.
    """
    record = {
        "step": int(step),
        "total": None if total is None else int(total),
        "metrics": {str(name): _plain(value) for name, value in metrics.items()},
        "time": round(time.time(), 3),
    }
    sys.stdout.write(MARKER + " " + json.dumps(record, separators=(",", ":")) + "\n")
    sys.stdout.flush()
