"""Warm GPU slot declarations (``c.Federation.warm_slots``), checked against the member clusters.

Pure, and free of the Kubernetes client, so the hub's configuration can validate them
before anything connects; ``warm.WarmPool`` keeps the placeholder pods they declare.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import UserError
from . import gpus

__all__ = ["WarmSlot", "WarmSlotError", "parse_warm_slots"]


class WarmSlotError(UserError, ValueError):
    """A warm slot declaration that cannot be honoured; the message names entry and field."""


@dataclass(frozen=True)
class WarmSlot:
    cluster: str
    gpu_type: str  # canonical
    count: int  # placeholders to keep
    gpus_each: int = 1
    priority_class: str = ""


def parse_warm_slots(raw: list, members: dict) -> list[WarmSlot]:
    """Validate ``c.Federation.warm_slots`` against the member clusters."""
    slots = []
    for i, entry in enumerate(raw or []):
        where = f"Federation.warm_slots[{i}]"
        if not isinstance(entry, dict):
            raise WarmSlotError(f"{where}: must be a mapping like {{cluster, gpu, count}}")
        cluster = entry.get("cluster")
        if cluster not in members:
            raise WarmSlotError(f"{where}: field 'cluster' must name a member cluster "
                                f"({', '.join(sorted(members))}), got {cluster!r}")
        try:
            gpu_type = gpus.parse_gpu_type(str(entry.get("gpu", "")), strict=False).name
        except gpus.GpuTypeError as err:
            raise WarmSlotError(f"{where}: field 'gpu': {err}") from None
        counts = {}
        for key, default in (("count", 1), ("gpus_each", 1)):
            value = entry.get(key, default)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise WarmSlotError(f"{where}: field '{key}' must be a whole number ≥ 1, got {value!r}")
            counts[key] = value
        slots.append(WarmSlot(cluster, gpu_type, counts["count"], counts["gpus_each"],
                              str(entry.get("priority_class") or "")))
    return slots
