"""Data locality: datasets declared per member cluster, and where a workload using one may run (pure).

Admins declare what each cluster holds: ``datasets: {cms-run3: {protected: true}, imagenet: {}}``
in its ``Federation.clusters`` entry. A profile (``dataset: NAME``) or a job (``--dataset NAME``)
that asks for a dataset is placed by these rules:

- **protected** data never leaves its clusters: only clusters that hold it are eligible, every
  other cluster is rejected saying so;
- **unprotected** data is preferred where it is (as strongly as a locality label), but the
  workload may run elsewhere (reading it over the network).

A dataset no member cluster declares is a user error, reported before placement.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ..errors import UserError

__all__ = ["DATASET_RE", "DatasetError", "holders", "parse_datasets", "unknown_dataset"]

#: A dataset name: lower-case letters, digits, '-', '_' and '.', at most 64, alphanumeric at both ends.
DATASET_RE = re.compile(r"^[a-z0-9]([-a-z0-9_.]{0,62}[a-z0-9])?$")


class DatasetError(UserError, ValueError):
    """A malformed ``datasets`` entry (the message names cluster and dataset)."""


def parse_datasets(raw: object, where: str) -> dict[str, bool]:
    """``{name: {protected: bool}}`` (or a list of names, all unprotected) -> {name: protected}."""
    if raw in (None, {}, []):
        return {}
    if isinstance(raw, list) and all(isinstance(n, str) for n in raw):
        raw = {name: {} for name in raw}
    if not isinstance(raw, Mapping):
        raise DatasetError(f"{where}: field 'datasets' must map dataset names to {{protected: true|false}}, "
                           f"e.g. {{cms-run3: {{protected: true}}}}, got {raw!r}")
    out = {}
    for name, settings in raw.items():
        if not isinstance(name, str) or not DATASET_RE.match(name):
            raise DatasetError(f"{where}: field 'datasets': {name!r} is not a dataset name (lower-case letters, "
                               "digits, '-', '_', '.'; at most 64)")
        settings = settings if settings is not None else {}
        if not isinstance(settings, Mapping) or set(settings) - {"protected"} or not isinstance(
                settings.get("protected", False), bool):
            raise DatasetError(f"{where}: field 'datasets.{name}' must be {{protected: true}} or "
                               f"{{protected: false}}, got {settings!r}")
        out[name] = bool(settings.get("protected", False))
    return out


def holders(dataset: str, clusters) -> tuple[list[str], bool]:
    """The names of the clusters (snapshots or members with ``datasets``) holding ``dataset``, and
    whether any of them declares it protected."""
    found = [c.name for c in clusters if dataset in c.datasets]
    return found, any(c.datasets[dataset] for c in clusters if dataset in c.datasets)


def unknown_dataset(dataset: str | None, clusters) -> str | None:
    """A message for a dataset no member cluster holds (naming the ones that exist), else None."""
    if not dataset:
        return None
    clusters = list(clusters)
    if any(dataset in c.datasets for c in clusters):
        return None
    known = sorted({d for c in clusters for d in c.datasets})
    return (f"No member cluster holds the dataset {dataset!r}. "
            + (f"The datasets of this federation are: {', '.join(known)}." if known
               else "No cluster declares datasets; leave the dataset out."))
