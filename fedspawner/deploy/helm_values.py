"""Checks of zero-to-jupyterhub values before they reach a cluster.

helm merges the chart's ``values.yaml`` with the admin's files and validates the result
against the chart's ``values.schema.json``; that catches a misspelt chart key. It cannot
catch a misspelt fedspawner key, because ``hub.config`` passes anything through to
traitlets (which only warns). ``federation_problems`` checks those against the
``Federation`` traits and the member-cluster fields.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from ..federation.config import CLUSTER_FIELDS, Federation

SPAWNER = "fedspawner"
PROFILE_EXTENSIONS = {"gpu": {"type", "count"}, "clusters": {"allowed", "preferred", "locality"}}


def load_values(path: Path) -> dict:
    """One values file as a mapping (an empty file is ``{}``)."""
    return yaml.safe_load(Path(path).read_text()) or {}


def merge_values(base: dict, *overlays: dict) -> dict:
    """Merge values as helm does: mappings key by key, later files win, null removes a key."""
    merged = dict(base)
    for overlay in overlays:
        for key, value in overlay.items():
            if value is None:
                merged.pop(key, None)
            elif isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key] = merge_values(merged[key], value)
            else:
                merged[key] = value
    return merged


def chart_values(chart: Path, files: list[Path]) -> dict:
    """The chart's defaults merged with ``files`` (later files win)."""
    return merge_values(load_values(Path(chart) / "values.yaml"), *(load_values(f) for f in files))


def schema_errors(chart: Path, values: dict) -> list[str]:
    """Where ``values`` break the chart's ``values.schema.json`` (empty: accepted)."""
    import jsonschema

    schema = json.loads((Path(chart) / "values.schema.json").read_text())
    validator = jsonschema.Draft7Validator(schema)
    return sorted(f"{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
                  for e in validator.iter_errors(values))


def _dig(values: dict, dotted: str) -> object:
    for key in dotted.split("."):
        if not isinstance(values, dict):
            return None
        values = values.get(key)
    return values


def federation_problems(values: dict) -> list[str]:
    """fedspawner keys in merged values that would be ignored or refused at hub start-up."""
    problems = []
    spawner = _dig(values, "hub.config.JupyterHub.spawner_class")
    if spawner != SPAWNER:
        problems.append(f"hub.config.JupyterHub.spawner_class is {spawner!r}; set it to {SPAWNER!r}")
    federation = _dig(values, "hub.config.Federation") or {}
    traits = set(Federation.class_trait_names(config=True))
    for key in sorted(set(federation) - traits):
        problems.append(f"hub.config.Federation.{key} is not a Federation setting; known: {', '.join(sorted(traits))}")
    for i, cluster in enumerate(federation.get("clusters") or []):
        where = f"hub.config.Federation.clusters[{i}]"
        if not isinstance(cluster, dict):
            problems.append(f"{where} must be a mapping")
            continue
        for key in sorted(set(cluster) - CLUSTER_FIELDS):
            problems.append(f"{where}.{key} is not a cluster field; known: {', '.join(sorted(CLUSTER_FIELDS))}")
    for i, profile in enumerate(_dig(values, "singleuser.profileList") or []):
        for key, fields in PROFILE_EXTENSIONS.items():
            extension = profile.get(key) if isinstance(profile, dict) else None
            for bad in sorted(set(extension or {}) - fields):
                problems.append(f"singleuser.profileList[{i}].{key}.{bad} is not known; known: "
                                f"{', '.join(sorted(fields))}")
    return problems
