"""Member clusters as JSON for people's tools: the launch form, the gateway's
``clusters`` endpoint and ``fedspawner clusters`` all show the same fields (pure)."""

from __future__ import annotations

from .model import ClusterSnapshot, GpuAvailability


def gpu_json(g: GpuAvailability) -> dict:
    return {"type": g.gpu_type, "display": g.display, "resource": g.resource, "free": g.free,
            "upper_bound": g.free_upper_bound, "best_known_free": g.best_known_free, "total": g.total,
            "max_per_node": g.max_per_node, "largest_free": g.largest_free_on_one_node, "source": g.source,
            "note": g.note}


def cluster_json(c: ClusterSnapshot, groups: frozenset[str] | None = None) -> dict:
    """One cluster; with ``groups``, also whether that user may use it now and why not."""
    entry = {"name": c.name, "display_name": c.display_name, "site": c.site, "owner": c.owner,
             "healthy": c.healthy, "visibility": c.visibility,
             "gpus": [gpu_json(g) for g in sorted(c.gpus.values(), key=lambda g: g.gpu_type)]}
    reason = f"down: {c.health_reason}" if not c.healthy else ""
    if groups is not None and not reason and not c.open_to(groups):
        reason = "not open to your groups"
    entry.update(usable=not reason, reason=reason)
    return entry
