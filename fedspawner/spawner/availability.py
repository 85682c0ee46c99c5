"""What the launch form shows: clusters and GPU types with live free counts (pure).

``availability(snapshot, groups)`` turns an inventory snapshot into the JSON the form's
availability endpoint serves, from the point of view of one user (clusters their
groups may not use are included but marked unusable, with the reason).
"""

from __future__ import annotations

from ..federation.model import ClusterSnapshot, GpuAvailability, InventorySnapshot


def _gpu_entry(g: GpuAvailability) -> dict:
    return {"type": g.gpu_type, "display": g.display, "free": g.free, "upper_bound": g.free_upper_bound,
            "total": g.total, "max_per_node": g.max_per_node, "largest_free": g.largest_free_on_one_node,
            "source": g.source, "note": g.note}


def _cluster_entry(c: ClusterSnapshot, groups: frozenset[str]) -> dict:
    usable, reason = True, ""
    if not c.healthy:
        usable, reason = False, f"down: {c.health_reason}"
    elif c.allowed_groups is not None and not groups & c.allowed_groups:
        usable, reason = False, "not open to your groups"
    return {"name": c.name, "display_name": c.display_name, "site": c.site, "owner": c.owner,
            "healthy": c.healthy, "usable": usable, "reason": reason, "visibility": c.visibility,
            "gpus": [_gpu_entry(g) for g in sorted(c.gpus.values(), key=lambda g: g.gpu_type)]}


def gpu_type_summary(clusters: list[dict]) -> list[dict]:
    """One row per GPU type over the usable clusters: free (exact part), up-to bound, where."""
    rows: dict[str, dict] = {}
    for c in clusters:
        for g in c["gpus"]:
            row = rows.setdefault(g["type"], {"type": g["type"], "display": g["display"], "free": 0,
                                              "upper_bound": 0, "clusters": [], "max_per_node": None})
            if not c["usable"]:
                continue
            row["clusters"].append(c["name"])
            row["free"] += g["free"] or 0
            row["upper_bound"] += g["free"] if g["free"] is not None else (g["upper_bound"] or 0)
            if g["max_per_node"] is not None:
                row["max_per_node"] = max(row["max_per_node"] or 0, g["max_per_node"])
    for row in rows.values():
        if not row["clusters"]:
            row["usable"], row["reason"] = False, "only on clusters you cannot use now"
        elif row["upper_bound"] == 0:
            row["usable"], row["reason"] = False, "none free now"
        else:
            row["usable"], row["reason"] = True, ""
        exact = row["free"] == row["upper_bound"]
        row["label"] = f"{row['display']} — {row['free']} free" if exact else \
            f"{row['display']} — up to {row['upper_bound']} free"
    return sorted(rows.values(), key=lambda r: r["display"])


def availability(snapshot: InventorySnapshot, groups: frozenset[str], version: int = 0) -> dict:
    clusters = [_cluster_entry(c, groups) for c in snapshot.clusters]
    return {"version": version, "taken_at": snapshot.taken_at, "clusters": clusters,
            "gpu_types": gpu_type_summary(clusters)}
