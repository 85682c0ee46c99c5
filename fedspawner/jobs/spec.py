"""The validated description of a job sent from a notebook cell.

``JobSpec`` is what ``%%fedsubmit`` builds from its arguments and the cell
body, what the gateway receives as JSON, and what the renderers turn into
manifests. Constructing one validates it, so a ``JobSpec`` that exists is
well-formed and complete (what can still fail is rendering it for a backend
its kind doesn't support, or a script that fits on its own but not together
with the files shipped next to it). ``JobSpec.from_dict`` adds the rules for
untrusted input (unknown fields, types, a generated name) and ``to_dict`` gives
back a plain, JSON-ready dict with every default filled in, so
``JobSpec.from_dict(spec.to_dict()) == spec``.

Every problem raises ``JobSpecError`` with one paragraph that says what was
wrong and what to do; the gateway returns it as a 4xx and the magics print it.
"""

from __future__ import annotations

import difflib
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any

from . import checks, kinds
from .errors import JobSpecError

__all__ = [
    "DEFAULT_IMAGES",
    "GpuRequest",
    "JobSpec",
    "JobSpecError",
    "KINDS",
    "MAX_SCRIPT_BYTES",
    "generate_name",
    "script_filename",
]

#: Every kind of job (one module each in ``fedspawner.jobs.kinds``).
KINDS = kinds.KINDS
#: Kinds people ask for that fedspawner does not run, and what to do instead.
UNSUPPORTED_KINDS: Mapping[str, str] = kinds.REMOVED_KINDS
LANGUAGES = ("python", "bash")
#: The image a kind runs when the spec names none.
DEFAULT_IMAGES: Mapping[str, str] = MappingProxyType({name: kinds.get(name).default_image for name in KINDS})
DEFAULT_CPU = "1"
DEFAULT_MEMORY = "2Gi"
DEFAULT_EXECUTORS = 2
MAX_SCRIPT_BYTES = checks.MAX_SCRIPT_BYTES


@dataclass(frozen=True)
class GpuRequest:
    """GPUs per node: a canonical GPU type (or None for "any") and a count.

    The type names come from the federation core's inventory and are checked
    against it there; here only their shape is checked. ``count`` 0 means a
    CPU-only job.
    """

    type: str | None = None
    count: int = 0

    def __post_init__(self) -> None:
        checks.check_gpus(self.type, self.count)

    @classmethod
    def parse(cls, value: Any) -> GpuRequest:
        """Build from None, a ``GpuRequest``, ``{"type": ..., "count": ...}``,
        ``"A100:4"`` or ``"4"``."""
        if value is None:
            return cls()
        if isinstance(value, GpuRequest):
            return value
        if isinstance(value, str):
            return cls(*checks.parse_gpu_string(value))
        if isinstance(value, Mapping):
            unknown = sorted(set(value) - {"type", "count"})
            if unknown:
                raise JobSpecError(
                    f"Unknown key {unknown[0]!r} in gpus. A GPU request has a 'type' (the canonical GPU "
                    "name, or null for any type) and a 'count' per node, e.g. {\"type\": \"A100\", "
                    "\"count\": 4}.", field="gpus")
            count = value.get("count", 1 if value.get("type") else 0)
            return cls(type=value.get("type"), count=count)
        raise JobSpecError(
            f"gpus must be an object like {{\"type\": \"A100\", \"count\": 4}} or a string like "
            f"\"A100:4\", not {type(value).__name__}.", field="gpus")

    def to_dict(self) -> dict[str, Any]:
        """``{"type": ..., "count": ...}``."""
        return {"type": self.type, "count": self.count}


@dataclass(frozen=True)
class JobSpec:
    """A job: what to run (kind, script, image), on how much, with what around it.

    ``cpu``, ``memory`` and ``gpus`` are per node (per pod): each of the ``nodes``
    pods gets them, for ``spark`` the driver and each of the ``executors`` (GPUs go
    to the executors only). Fields left as None get the kind's default when the spec
    is built, so a constructed spec is always complete.
    """

    kind: str
    name: str
    script: str
    language: str = "python"
    image: str | None = None
    nodes: int = 1
    gpus: GpuRequest = field(default_factory=GpuRequest)
    cpu: str | None = None
    memory: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    packages: tuple[str, ...] = ()
    executors: int | None = None
    conf: Mapping[str, str] = field(default_factory=dict)
    retries: int = 0
    timeout: int | None = None
    dataset: str | None = None

    def __post_init__(self) -> None:
        kind = checks.check_kind(self.kind, KINDS, UNSUPPORTED_KINDS)
        its = kinds.get(kind)
        gpus = GpuRequest.parse(self.gpus)
        values = {
            "name": checks.check_name(self.name),
            "script": checks.check_script(self.script),
            "language": checks.check_language(self.language, kind, its.languages, LANGUAGES,
                                              [k for k in KINDS if self.language in kinds.get(k).languages]),
            "gpus": gpus,
            "image": checks.check_image(self.image) if self.image is not None else default_image(kind),
            "nodes": checks.check_nodes(self.nodes),
            "cpu": checks.check_cpu(DEFAULT_CPU if self.cpu is None else self.cpu),
            "memory": checks.check_memory(DEFAULT_MEMORY if self.memory is None else self.memory,
                                          its.min_memory_mib, its.memory_why),
            "env": MappingProxyType(checks.check_env(self.env)),
            "packages": checks.check_packages(self.packages),
            "executors": checks.check_executors(self.executors, kind, "executors" in its.options,
                                                DEFAULT_EXECUTORS),
            "conf": MappingProxyType(checks.check_conf(self.conf, kind, "conf" in its.options)),
            "retries": checks.check_retries(self.retries, kind, "retries" in its.options),
            "timeout": checks.check_timeout(self.timeout),
            "dataset": checks.check_dataset(self.dataset),
        }
        its.check(values)
        for key, value in values.items():
            object.__setattr__(self, key, value)

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_dict(), sort_keys=True))

    @property
    def script_filename(self) -> str:
        """``main.py`` or ``main.sh``: the script's key in its ConfigMap."""
        return script_filename(self.language)

    @classmethod
    def from_dict(cls, data: Any) -> JobSpec:
        """Validate untrusted input (e.g. a JSON request body) into a ``JobSpec``.

        Unknown fields are rejected (with a "did you mean" when one is close);
        a missing ``name`` is generated with ``generate_name`` (the only
        non-deterministic step: give a name to get the same spec every time).
        """
        if not isinstance(data, Mapping):
            raise JobSpecError(
                f"A job spec must be an object (a mapping of field names to values), not "
                f"{type(data).__name__}. Send at least {{\"kind\": \"pytorch\", \"script\": \"...\"}}.")
        known = [f.name for f in fields(cls)]
        for key in data:
            if key not in known:
                hint = difflib.get_close_matches(str(key), known, n=1)
                did_you_mean = f" Did you mean {hint[0]!r}?" if hint else ""
                raise JobSpecError(
                    f"Unknown field {key!r} in the job spec.{did_you_mean} The fields are: "
                    f"{', '.join(known)}.", field=str(key))
        for required in ("kind", "script"):
            if data.get(required) is None:
                what = "the kind of job (one of " + ", ".join(KINDS) + ")" if required == "kind" \
                    else "the code to run (the cell body)"
                raise JobSpecError(f"The job spec has no {required!r}: give {what}.", field=required)
        kwargs = {key: value for key, value in data.items() if value is not None}
        if "name" not in kwargs:
            kwargs["name"] = generate_name(checks.check_kind(data["kind"], KINDS, UNSUPPORTED_KINDS))
        if "cpu" in kwargs:
            kwargs["cpu"] = checks.number_to_quantity(kwargs["cpu"])
        for key in ("env", "conf"):
            if key in kwargs and not isinstance(kwargs[key], Mapping):
                raise JobSpecError(
                    f"{key} must be an object mapping names to string values, not "
                    f"{type(kwargs[key]).__name__}.", field=key)
        if "packages" in kwargs:
            packages = kwargs["packages"]
            if isinstance(packages, str) or not isinstance(packages, (list, tuple)):
                raise JobSpecError(
                    "packages must be a list of pip requirement strings, e.g. [\"numpy\", "
                    f"\"pandas>=2\"], not {type(packages).__name__}.", field="packages")
            kwargs["packages"] = tuple(packages)
        kwargs["gpus"] = GpuRequest.parse(kwargs.get("gpus"))
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        """Every field, defaults filled in, as plain JSON-ready values."""
        return {
            "kind": self.kind,
            "name": self.name,
            "script": self.script,
            "language": self.language,
            "image": self.image,
            "nodes": self.nodes,
            "gpus": self.gpus.to_dict(),
            "cpu": self.cpu,
            "memory": self.memory,
            "env": dict(self.env),
            "packages": list(self.packages),
            "executors": self.executors,
            "conf": dict(self.conf),
            "retries": self.retries,
            "timeout": self.timeout,
            "dataset": self.dataset,
        }


def script_filename(language: str) -> str:
    """The script's file name (its key in the job's ConfigMap) for a script ``language``."""
    return "main.sh" if language == "bash" else "main.py"


def default_image(kind: str) -> str | None:
    """The image a kind runs when the spec names none."""
    return DEFAULT_IMAGES.get(kind)


def generate_name(kind: str, token: str | None = None) -> str:
    """A fresh job name: the kind and a short random suffix (``pytorch-x7k2qd``).

    ``token`` fixes the suffix (for tests); it must be lowercase letters and
    digits. The result is always a valid job name.
    """
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    suffix = token if token is not None else "".join(secrets.choice(alphabet) for _ in range(6))
    return checks.check_name(f"{kind}-{suffix}")
