"""The options of a job submission, declared once (pure).

``OPTIONS`` lists every option a user can set when submitting a job: its type, limits,
pattern, default, help text, which kinds of job it applies to and its ``%%fedsubmit``
flag. The limits and patterns are the very constants the job spec's checks
(``jobs.checks``) and the request fields (``jobs.fields``) validate with, so the schema
can never say something the validation does not do. ``render_schema`` turns the
declarations, plus what only the running federation knows (its cluster names and GPU
types), into the JSON the gateway publishes at ``GET /api/v1/options``; the Lab's submit
dialog renders it, and the ``%%fedsubmit`` argument parser is built from the same
declarations (``fedspawner.client.args``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from ..federation.names import NAME_RE
from ..federation.datasets import DATASET_RE
from . import checks, fields, kinds, validation
from .limits import Limits
from .spec import DEFAULT_CPU, DEFAULT_EXECUTORS, DEFAULT_IMAGES, DEFAULT_MEMORY, KINDS, LANGUAGES

__all__ = ["OPTIONS", "Option", "option", "render_schema", "version_of"]

#: Option types: how a value is written (the schema's ``type``).
TYPES = ("enum", "string", "integer", "list", "mapping", "gpus", "clusters", "quantity")


@dataclass(frozen=True)
class Option:
    """One user-facing option of a job submission.

    ``constraints`` holds the type's limits (``minimum``/``maximum``, ``pattern``,
    ``max_items``...), all taken from ``jobs.checks``; ``flag`` is the ``%%fedsubmit``
    option (None: not on the command line, e.g. the positional ``kind``).
    """

    name: str
    label: str
    type: str
    help: str
    default: Any = None
    kinds: tuple[str, ...] = KINDS
    required: bool = False
    flag: str | None = None
    metavar: str | None = None
    constraints: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The option as the schema publishes it."""
        return {"name": self.name, "label": self.label, "type": self.type, "help": self.help,
                "default": self.default, "kinds": list(self.kinds), "required": self.required,
                "flag": self.flag, **self.constraints}


def _pattern(regex) -> str:
    return regex.pattern


OPTIONS: tuple[Option, ...] = (
    Option("kind", "Kind", "enum", "What runs the script: " + ", ".join(
               f"{name} ({kinds.get(name).summary})" for name in KINDS) + ".", required=True, metavar="KIND",
           constraints={"choices": list(KINDS)}),
    Option("name", "Name", "string", "Job name (default: generated from the kind).", flag="--name",
           metavar="NAME", constraints={"pattern": _pattern(validation.DNS1035_LABEL),
                                        "max_length": checks.MAX_NAME_LENGTH}),
    Option("cluster", "Cluster", "clusters", "Where to run: auto (the hub chooses), a cluster, or "
           "clusters in failover order.", default=fields.AUTO, flag="--cluster", metavar="auto|NAME[,NAME...]",
           constraints={"auto": fields.AUTO, "pattern": _pattern(NAME_RE), "max_items": fields.MAX_CLUSTERS}),
    Option("gpus", "GPUs per node", "gpus", "GPUs per node: TYPE:N (a canonical GPU type), or just N for any "
           "type.", default={"type": None, "count": 0}, flag="--gpus", metavar="TYPE:N",
           constraints={"count_minimum": 0, "count_maximum": checks.MAX_GPUS_PER_NODE,
                        "type_pattern": _pattern(checks.GPU_TYPE_RE),
                        "string_pattern": _pattern(checks.GPU_STRING_RE)}),
    Option("nodes", "Nodes", "integer", "Pods (ranks) of the job.", default=1, kinds=kinds.kinds_with("nodes"),
           flag="--nodes", metavar="N", constraints={"minimum": 1, "maximum": checks.MAX_NODES}),
    Option("image", "Image", "string", "Container image (default: the kind's image).",
           default={kind: image for kind, image in DEFAULT_IMAGES.items()}, flag="--image", metavar="IMG",
           constraints={"pattern": _pattern(checks.IMAGE_RE), "max_length": checks.MAX_IMAGE_LENGTH,
                        "name_max_length": checks.MAX_IMAGE_NAME_LENGTH}),
    Option("packages", "pip packages", "list", "pip packages to install before the script runs: a name with "
           "optional extras and version specifiers (e.g. pandas[parquet]>=2.1); no URLs, paths or pip options.",
           default=[], flag="--pip", metavar="PKG",
           constraints={"item_pattern": _pattern(checks.PACKAGE_RE), "max_items": checks.MAX_PACKAGES,
                        "item_max_length": checks.MAX_PACKAGE_LENGTH}),
    Option("env", "Environment", "mapping", "Environment variables of every pod.", default={}, flag="--env",
           metavar="K=V", constraints={
               "key_pattern": _pattern(checks.ENV_NAME), "key_max_length": checks.MAX_ENV_NAME_LENGTH,
               "max_items": checks.MAX_ENV, "value_max_length": checks.MAX_ENV_VALUE,
               "reserved_keys": sorted(checks.RESERVED_ENV),
               "reserved_prefixes": list(checks.RESERVED_ENV_PREFIXES)}),
    Option("executors", "Executors", "integer", "Spark executor pods.", default=DEFAULT_EXECUTORS,
           kinds=kinds.kinds_with("executors"), flag="--executors", metavar="N",
           constraints={"minimum": 1, "maximum": checks.MAX_EXECUTORS}),
    Option("conf", "Spark configuration", "mapping", "Spark application tuning: spark.sql.*, "
           "spark.default.parallelism, serialisation, compression, shuffle, timeouts, speculation, "
           "spark.hadoop.fs.* (the allowed keys and prefixes; nothing that shapes the pods).", default={},
           kinds=kinds.kinds_with("conf"), flag="--conf", metavar="K=V", constraints={
               "key_pattern": _pattern(checks.CONF_KEY_RE), "max_items": checks.MAX_CONF,
               "value_max_length": checks.MAX_CONF_VALUE, "allowed_keys": sorted(checks.SPARK_CONF_ALLOWED_KEYS),
               "allowed_prefixes": list(checks.SPARK_CONF_ALLOWED_PREFIXES)}),
    Option("cpu", "CPU per pod", "quantity", "CPU per pod, e.g. 2 or 500m.", default=DEFAULT_CPU, flag="--cpu",
           metavar="CPU", constraints={"unit": "cores", "minimum": "1m", "maximum": str(checks.MAX_CPU_CORES),
                                       "pattern": _pattern(checks.QUANTITY_RE)}),
    Option("memory", "Memory per pod", "quantity", "Memory per pod, e.g. 8Gi.", default=DEFAULT_MEMORY,
           flag="--memory", metavar="MEM", constraints={
               "unit": "bytes", "minimum": f"{checks.MIN_MEMORY_MIB}Mi",
               "minimum_by_kind": {name: f"{kinds.get(name).min_memory_mib}Mi" for name in KINDS
                                   if kinds.get(name).min_memory_mib != checks.MIN_MEMORY_MIB},
               "pattern": _pattern(checks.QUANTITY_RE)}),
    Option("language", "Language", "enum", "Script language (bash: kind " + " or ".join(
               name for name in KINDS if "bash" in kinds.get(name).languages) + " only).", default="python",
           flag="--language", metavar="LANG",
           constraints={"choices": list(LANGUAGES), "choices_by_kind": {
               name: list(kinds.get(name).languages) for name in KINDS}}),
    Option("retries", "Retries", "integer", "Retries of failed pods.", default=0, kinds=kinds.kinds_with("retries"),
           flag="--retries", metavar="N", constraints={"minimum": 0, "maximum": checks.MAX_RETRIES}),
    Option("timeout", "Time limit", "integer", "Seconds the job may run (default: no limit).",
           flag="--timeout", metavar="SECONDS", constraints={"minimum": 1, "maximum": checks.MAX_TIMEOUT}),
    Option("dataset", "Dataset", "string", "A dataset the job reads, as admins declare them per cluster: "
           "the job is placed where it is held (protected data never leaves its cluster).", flag="--dataset",
           metavar="NAME", constraints={"pattern": _pattern(DATASET_RE), "max_length": 64}),
)

_BY_NAME = {o.name: o for o in OPTIONS}


def option(name: str) -> Option:
    """The declaration of one option."""
    return _BY_NAME[name]


def render_schema(clusters: list[str], gpu_types: list[dict[str, Any]],
                  limits: Limits | None = None) -> dict[str, Any]:
    """The option schema for a federation with ``clusters`` (member names, in order),
    ``gpu_types`` (``{"name", "display", "clusters"}`` per canonical type) and the
    administrators' ``limits`` (default: ``Limits()``).

    The ``cluster`` option's choices are ``auto`` and the names, the ``gpus`` option's the
    types; the limits become the ``maximum`` (``count_maximum`` for GPUs) of the options they
    cap, and ``limits`` lists them; ``version`` changes exactly when the schema does.
    """
    limits = limits or Limits()
    maxima = limits.maxima()
    rendered = []
    for opt in OPTIONS:
        entry = opt.to_json()
        if opt.type == "clusters":
            entry["choices"] = [fields.AUTO, *clusters]
        elif opt.type == "gpus":
            entry["choices"] = [g["name"] for g in gpu_types]
        if opt.name in maxima:
            entry["count_maximum" if opt.type == "gpus" else "maximum"] = maxima[opt.name]
        rendered.append(entry)
    body = {"options": rendered, "kinds": list(KINDS), "removed_kinds": dict(kinds.REMOVED_KINDS),
            "clusters": list(clusters), "gpu_types": gpu_types,
            "max_script_bytes": checks.MAX_SCRIPT_BYTES, "limits": limits.to_dict()}
    return {"version": version_of(body), **body}


def version_of(data: Any) -> str:
    """A short digest of JSON-ready ``data`` that changes exactly when it does (long-poll versions)."""
    return hashlib.sha1(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]
