"""Job ids, object names, and the job record the gateway keeps on the cluster itself.

The gateway has no database: what it must remember about a job travels with the job's
objects on its member cluster. The script ConfigMap (the *anchor*, created first and
deleted last) carries

- the annotation ``fedspawner.dev/job``: a small JSON record (the spec's name and
  sizing, when it was submitted, the failover history and the clusters still to try);
- the data key ``fedspawner-spec.json``: the whole spec without the script (which sits
  next to it), so any gateway replica can render the job again for another cluster.
"""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass, fields, replace
from datetime import datetime, timezone
from functools import lru_cache

from ..jobs.checks import MAX_NAME_LENGTH
from ..jobs.spec import JobSpec, script_filename
from ..jobs.vocabulary import ID_CHARS, JOB_ID_RE  # noqa: F401 - JOB_ID_RE: still importable from here

ANNOTATION_RECORD = "fedspawner.dev/job"
#: Put on a job's anchors when a cancel begins, so a replica moving the job leaves it alone.
ANNOTATION_CANCELLING = "fedspawner.dev/cancelling"
SPEC_KEY = "fedspawner-spec.json"
#: Room for the spec's name in object names, before the job id suffix (``-`` and the id's
#: characters), so an object name is never longer than a job name may be.
NAME_ROOM = MAX_NAME_LENGTH - 1 - ID_CHARS


def new_id(prefix: str = "j") -> str:
    """``<prefix>-`` and 8 random lowercase base32 characters (``j-`` jobs, ``s-`` sessions)."""
    return f"{prefix}-" + base64.b32encode(secrets.token_bytes(ID_CHARS * 5 // 8)).decode().lower()


def new_job_id() -> str:
    """A new job's id: ``j-`` and 8 random lowercase base32 characters."""
    return new_id("j")


def object_name(spec_name: str, job_id: str) -> str:
    """The base name of a job's objects: the spec name (cut to fit) and the id suffix."""
    return f"{spec_name[:NAME_ROOM].rstrip('-')}-{job_id[2:]}"


def now_iso() -> str:
    """The time now, as Kubernetes writes timestamps (UTC, whole seconds)."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class JobRecord:
    """What the gateway remembers of a job, stored on the anchor ConfigMap."""

    name: str
    kind: str
    image: str
    nodes: int
    gpus_per_node: int
    gpu_type: str | None  # the canonical type on the cluster it runs on now
    created: str
    executors: int | None = None
    history: tuple[str, ...] = ()
    failover: tuple[str, ...] = ()  # clusters still to try, in order
    tried: tuple[str, ...] = ()  # clusters the job has been on, in order
    # What placement needs to choose again after a failover:
    requested_gpu: str | None = None  # the canonical type asked for, "any", or None (CPU)
    groups: tuple[str, ...] = ()  # the owner's groups when the job was submitted
    ordered: bool = False  # whether ``failover`` is the user's own order
    # What the user asked for besides the spec (to show the job's origin and resubmit it):
    asked_clusters: tuple[str, ...] = ()  # the request's ``cluster`` names, in order (empty: auto)
    origin_path: str | None = None  # the notebook the job was sent from
    origin_cell: str | None = None  # and its cell id

    @property
    def origin(self) -> dict[str, str | None] | None:
        """``{"path", "cell"}`` of the notebook cell the job came from (None when not given)."""
        return {"path": self.origin_path, "cell": self.origin_cell} if self.origin_path else None

    @classmethod
    def for_spec(cls, spec: JobSpec, requested_gpu: str | None, groups: frozenset[str],
                 ordered: bool, asked_clusters: tuple[str, ...] = (),
                 origin: dict[str, str | None] | None = None) -> "JobRecord":
        return cls(name=spec.name, kind=spec.kind, image=spec.image or "", nodes=spec.nodes,
                   gpus_per_node=spec.gpus.count, gpu_type=None, created=now_iso(),
                   executors=spec.executors, requested_gpu=requested_gpu, groups=tuple(sorted(groups)),
                   ordered=ordered, asked_clusters=tuple(asked_clusters),
                   origin_path=(origin or {}).get("path"), origin_cell=(origin or {}).get("cell"))

    def to_json(self) -> str:
        data = {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> "JobRecord | None":
        """The record, or None when the annotation is unreadable or lacks a field.

        Keys this version does not know (written by an older or newer gateway, such as
        ``gpu_display``) are ignored.
        """
        try:
            data = json.loads(text)
            known = {f.name for f in fields(cls)}
            data = {key: value for key, value in data.items() if key in known}
            for key in ("history", "failover", "tried", "groups", "asked_clusters"):
                data[key] = tuple(data.get(key) or ())
            return cls(**data)
        except (TypeError, ValueError, AttributeError):
            return None

    def noted(self, note: str) -> "JobRecord":
        """The record with one more line of history."""
        return replace(self, history=(*self.history, note))


def anchor_patch(objects: list[dict], record: JobRecord, spec: JobSpec) -> list[dict]:
    """Put the job record and the spec on the rendered anchor ConfigMap (``objects[0]``)."""
    anchor = objects[0]
    assert anchor["kind"] == "ConfigMap"
    anchor["metadata"].setdefault("annotations", {})[ANNOTATION_RECORD] = record.to_json()
    spec_data = {k: v for k, v in spec.to_dict().items() if k != "script"}
    anchor["data"][SPEC_KEY] = json.dumps(spec_data, separators=(",", ":"))
    return objects


def record_of(anchor: dict | None) -> JobRecord | None:
    """The job record on an anchor object (None without one)."""
    if not anchor:
        return None
    text = ((anchor.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION_RECORD)
    return _parsed_record(text) if text else None


@lru_cache(maxsize=8192)
def _parsed_record(text: str) -> JobRecord | None:
    """Records are immutable: each annotation text is parsed once (job lists read thousands)."""
    return JobRecord.from_json(text)


def resubmission(configmap: dict, record: JobRecord | None) -> dict:
    """What ``POST /api/v1/jobs`` takes to run the job again: its spec (with the script), the
    clusters it asked for and its origin, from the full anchor ConfigMap."""
    body = spec_of(configmap).to_dict()
    asked = list(record.asked_clusters) if record else []
    body["cluster"] = (asked[0] if len(asked) == 1 else asked) if asked else "auto"
    if record is not None and record.origin:
        body["origin"] = record.origin
    return body


def spec_of(configmap: dict) -> JobSpec:
    """The user's spec back from a full anchor ConfigMap (spec data plus script)."""
    data = configmap.get("data") or {}
    spec = json.loads(data[SPEC_KEY])
    spec["script"] = data[script_filename(spec.get("language", "python"))]
    return JobSpec.from_dict(spec)
