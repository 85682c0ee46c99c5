"""Job views computed once per change of the job, for lists of many jobs.

A job's ``Job`` view (and its feed ``JobRow``) depends only on its objects and on how the
clusters name their GPU types. ``JobViews`` keeps each job's view with a stamp of both
(the objects' resourceVersions, the GPU names), so a list of 1,000 jobs recomputes only
the jobs that changed since the last list; a job copy handed in again as the very same
``JobObjects`` (the index keeps unchanged ones) is not even stamped again.
"""

from __future__ import annotations

from ..federation.model import InventorySnapshot
from .model import JobObjects
from .status import job_view, row_of


def gpu_naming(snapshot: InventorySnapshot) -> tuple:
    """What of ``snapshot`` a view depends on: each cluster's GPU types and their display names."""
    return tuple((c.name, tuple(sorted((g.gpu_type, g.display) for g in c.gpus.values())))
                 for c in snapshot.clusters)


def stamp(job: JobObjects) -> tuple:
    """The job's objects as the apiserver versions them (any change makes a new stamp)."""
    return tuple(sorted((o["kind"], o["metadata"]["name"], o["metadata"].get("resourceVersion", ""))
                        for o in job.everything()))


class JobViews:
    """The last view and row of each job copy (``(cluster, job id)``), reused while the job and the
    GPU naming stay the same."""

    def __init__(self):
        self._cache: dict[tuple[str, str], tuple[tuple, dict, dict | None]] = {}
        self._seen: dict[tuple[str, str], tuple[JobObjects, tuple]] = {}  # the copy and naming last stamped

    def _entry(self, job: JobObjects, snapshot: InventorySnapshot, naming: tuple) -> tuple[tuple, dict, dict | None]:
        key = (job.cluster, job.job_id)
        entry, seen = self._cache.get(key), self._seen.get(key)
        if entry is not None and seen is not None and seen[0] is job and seen[1] == naming:
            return entry
        now = (stamp(job), naming)
        if entry is None or entry[0] != now:
            entry = self._cache[key] = (now, job_view(job, None, snapshot), None)
        self._seen[key] = (job, naming)
        return entry

    def view(self, job: JobObjects, snapshot: InventorySnapshot, naming: tuple) -> dict:
        """The job's ``Job`` view without progress (a copy: callers may add to it)."""
        return dict(self._entry(job, snapshot, naming)[1])

    def row(self, job: JobObjects, snapshot: InventorySnapshot, naming: tuple) -> dict:
        """The job's ``JobRow`` (shared: not to be changed)."""
        key = (job.cluster, job.job_id)
        now, view, row = self._entry(job, snapshot, naming)
        if row is None:
            row = row_of(view, snapshot)
            self._cache[key] = (now, view, row)
        return row

    def forget(self, cluster: str, job_id: str) -> None:
        """Drop a job copy that is gone."""
        self._cache.pop((cluster, job_id), None)
        self._seen.pop((cluster, job_id), None)

    def __len__(self) -> int:
        return len(self._cache)
