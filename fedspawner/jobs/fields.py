"""Request fields next to a job spec that the gateway and its clients read alike (pure).

``JOB_STATES`` are the states a job list can be filtered by. ``parse_cluster_field``
reads the ``cluster`` field of a submission: ``"auto"`` (or nothing) lets the hub
choose, a name sends the job there, and several names (a list, or one string of
comma-separated names) are the clusters to try, in order. Only the syntax is checked
here, by the same rules as cluster names in the federation's configuration; whether
the clusters exist is for the gateway to say. ``parse_origin`` reads the optional
``origin`` of a submission: the notebook (path) and cell (nbformat cell id) it was sent
from, so a client can link a job back to its cell.
"""

from __future__ import annotations

import re
from typing import Any

from ..federation.names import NAME_RE, RESERVED_NAMES
from .errors import JobSpecError
from .vocabulary import JOB_STATES

__all__ = ["AUTO", "CELL_ID_RE", "JOB_STATES", "MAX_CLUSTERS", "MAX_ORIGIN_PATH", "parse_cluster_field",
           "parse_origin"]

#: The ``cluster`` value that lets the hub choose.
AUTO = "auto"
#: The most clusters a failover list may name.
MAX_CLUSTERS = 50
#: The longest notebook path an origin may name.
MAX_ORIGIN_PATH = 1024
#: An nbformat 4.5 cell id.
CELL_ID_RE = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

_SHAPE = ("'cluster' must be \"auto\" (let the hub choose), a cluster name, or the names of the clusters "
          "to try in order (a list, or names separated by commas, e.g. \"onprem,regional\")")


def _fail(message: str) -> JobSpecError:
    return JobSpecError(message, field="cluster")


def parse_cluster_field(value: Any) -> list[str] | None:
    """None for ``"auto"`` or no value; else the cluster names in the order to try them.

    Raises ``JobSpecError`` (field ``cluster``) for anything else: a value that is not a
    string or a list of strings, an empty list, a name that no cluster could have, a name
    given twice, or ``"auto"`` among names.
    """
    if value is None:
        return None
    if isinstance(value, str):
        parts = value.split(",")
    elif isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        parts = list(value)
    else:
        what = "a list with other things than names" if isinstance(value, (list, tuple)) else type(value).__name__
        raise _fail(f"{_SHAPE}, not {what}.")
    names = [part.strip() for part in parts]
    if names == [AUTO]:
        return None
    if not names or names == [""]:
        raise _fail(f"{_SHAPE}; it is empty.")
    if len(names) > MAX_CLUSTERS:
        raise _fail(f"'cluster' names {len(names)} clusters; at most {MAX_CLUSTERS} can be tried in turn.")
    if AUTO in names:
        raise _fail("\"auto\" can't be part of a list of clusters: give either \"auto\" or the names of the "
                    "clusters to try, in order.")
    for name in names:
        if not name:
            raise _fail(f"{_SHAPE}; it has an empty name (two commas in a row?).")
        if not NAME_RE.fullmatch(name) or name in RESERVED_NAMES:
            raise _fail(f"{name!r} is not a cluster name: cluster names are 1 to 40 lower-case letters, digits "
                        f"and '-', starting and ending with a letter or digit. {_SHAPE}.")
    twice = next((name for i, name in enumerate(names) if name in names[:i]), None)
    if twice is not None:
        raise _fail(f"The cluster list {', '.join(names)} names {twice} twice; name each cluster once, in the "
                    "order to try them.")
    return names


def _origin_fail(message: str) -> JobSpecError:
    return JobSpecError(f"{message} An origin is {{\"path\": \"<notebook path, relative to the notebook "
                        "server's root>\", \"cell\": \"<cell id>\"} (the cell is optional); leave it out "
                        "when the job does not come from a notebook.", field="origin")


def parse_origin(value: Any) -> dict[str, str | None] | None:
    """``{"path": ..., "cell": ...}`` (``cell`` may be None) for a submission's origin; None for none.

    Raises ``JobSpecError`` (field ``origin``) for anything but an object with a relative
    path of printable characters (at most ``MAX_ORIGIN_PATH``) and an optional cell id.
    """
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _origin_fail(f"'origin' must be an object, not {type(value).__name__}.")
    unknown = sorted(set(value) - {"path", "cell"})
    if unknown:
        raise _origin_fail(f"Unknown key {unknown[0]!r} in 'origin'.")
    path, cell = value.get("path"), value.get("cell")
    if not isinstance(path, str) or not path.strip():
        raise _origin_fail("The origin has no 'path' (the notebook the job was sent from).")
    if len(path) > MAX_ORIGIN_PATH or _CONTROL.search(path) or path.startswith("/") \
            or ".." in path.split("/"):
        raise _origin_fail(f"The origin's path {path[:80]!r} is not a notebook path: it must be relative to the "
                           f"server's root, without '..', control characters or more than {MAX_ORIGIN_PATH} "
                           "characters.")
    if cell is not None and (not isinstance(cell, str) or not CELL_ID_RE.fullmatch(cell)):
        raise _origin_fail(f"The origin's cell {cell!r} is not a cell id (1 to 64 letters, digits, '-' and '_').")
    return {"path": path, "cell": cell}
