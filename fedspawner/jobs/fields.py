"""Request fields next to a job spec that the gateway and its clients read alike (pure).

``JOB_STATES`` are the states a job list can be filtered by. ``parse_cluster_field``
reads the ``cluster`` field of a submission: ``"auto"`` (or nothing) lets the hub
choose, a name sends the job there, and several names (a list, or one string of
comma-separated names) are the clusters to try, in order. Only the syntax is checked
here, by the same rules as cluster names in the federation's configuration; whether
the clusters exist is for the gateway to say.
"""

from __future__ import annotations

from typing import Any

from ..federation.config import NAME_RE, RESERVED_NAMES
from .errors import JobSpecError
from .vocabulary import JOB_STATES

__all__ = ["AUTO", "JOB_STATES", "MAX_CLUSTERS", "parse_cluster_field"]

#: The ``cluster`` value that lets the hub choose.
AUTO = "auto"
#: The most clusters a failover list may name.
MAX_CLUSTERS = 50

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
        if not NAME_RE.match(name) or name in RESERVED_NAMES:
            raise _fail(f"{name!r} is not a cluster name: cluster names are 1 to 40 lower-case letters, digits "
                        f"and '-', starting and ending with a letter or digit. {_SHAPE}.")
    twice = next((name for i, name in enumerate(names) if name in names[:i]), None)
    if twice is not None:
        raise _fail(f"The cluster list {', '.join(names)} names {twice} twice; name each cluster once, in the "
                    "order to try them.")
    return names
