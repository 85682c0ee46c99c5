"""A job as found on its member cluster: every object carrying its job-id label."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..jobs.labels import ANNOTATION_OWNER_NAME, LABEL_BACKEND, LABEL_COMPONENT, LABEL_JOB_NAME, LABEL_KIND
from .identity import ANNOTATION_RECORD, JobRecord, record_of
from .kube import WORKLOAD_KINDS


def labels(obj: dict) -> dict[str, str]:
    """An object's labels (empty when it has none)."""
    return (obj.get("metadata") or {}).get("labels") or {}


def annotations(obj: dict) -> dict[str, str]:
    """An object's annotations (empty when it has none)."""
    return (obj.get("metadata") or {}).get("annotations") or {}


@dataclass
class JobObjects:
    """The objects of one job on one cluster (``anchor`` is the script ConfigMap)."""

    job_id: str
    cluster: str
    namespace: str
    anchor: dict | None = None
    workloads: list[dict] = field(default_factory=list)  # Jobs and custom resources
    pods: list[dict] = field(default_factory=list)
    others: list[dict] = field(default_factory=list)  # Services, JobSets, other ConfigMaps

    def add(self, obj: dict) -> None:
        """Put one of the job's objects (with its ``kind`` set) where it belongs."""
        kind = obj.get("kind")
        if kind == "ConfigMap" and ANNOTATION_RECORD in annotations(obj):
            self.anchor = obj
        elif kind == "Pod":
            self.pods.append(obj)
        elif kind in WORKLOAD_KINDS:
            self.workloads.append(obj)
        else:
            self.others.append(obj)

    def everything(self) -> list[dict]:
        return [o for o in (self.anchor, *self.workloads, *self.pods, *self.others) if o]

    def _first(self, read, key: str) -> str | None:
        """The first non-empty value of ``key`` in ``read(obj)`` over the job's objects."""
        return next((read(obj)[key] for obj in self.everything() if read(obj).get(key)), None)

    def _label(self, key: str) -> str | None:
        return self._first(labels, key)

    @property
    def owner(self) -> str | None:
        """The exact JupyterHub user name (from the owner annotation, not the lossy label)."""
        return self._first(annotations, ANNOTATION_OWNER_NAME)

    @property
    def backend(self) -> str | None:
        return self._label(LABEL_BACKEND)

    @property
    def kind(self) -> str | None:
        return self._label(LABEL_KIND)

    @property
    def object_name(self) -> str | None:
        return self._label(LABEL_JOB_NAME)

    @property
    def record(self) -> JobRecord | None:
        return record_of(self.anchor)

    def primary(self) -> dict | None:
        """The workload whose status decides the job's end (Spark standalone: the driver Job)."""
        for obj in self.workloads:
            if labels(obj).get(LABEL_COMPONENT) == "driver" and obj.get("kind") == "Job":
                return obj
        custom = [obj for obj in self.workloads if obj.get("kind") != "Job"]
        return (custom or self.workloads or [None])[0]
