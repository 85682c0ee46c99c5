"""Where a job may run: the whole gang as one placement request, and clear refusals.

``plan`` turns a validated spec, the caller and the request's ``cluster`` field
(``"auto"``, a cluster name, or names in failover order; its syntax is
``jobs.fields.parse_cluster_field``'s) into the ordered clusters to try. When no
cluster fits, the error says what the largest gang is that fits now and where, so the
user can resize instead of guessing.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from ..federation.datasets import unknown_dataset
from ..federation.gpus import GpuTypeError, parse_gpu_type
from ..federation.model import Decision, InventorySnapshot, PlacementRequest
from ..federation.placement import ANY_GPU, gpu_display, largest_gang, place, usable_gpus
from ..federation.quantity import cpu_millis, units
from ..federation.requests import placement_request
from ..jobs import kinds
from ..jobs.fields import AUTO, parse_cluster_field
from ..jobs.spec import JobSpec
from .errors import BadRequest, Unsatisfiable

__all__ = ["AUTO", "Plan", "clusters_named", "job_placement", "plan", "refusal", "replan", "resolve_gpu_type"]


@dataclass(frozen=True)
class Plan:
    """The clusters to try, best first, with the GPU type placement chose on each."""

    request: PlacementRequest
    order: tuple[str, ...]  # cluster names, best first
    gpu_types: dict[str, str | None]  # cluster -> canonical GPU type (None: CPU only)
    user_order: bool  # whether ``order`` is the user's own failover list
    reasons: dict[str, str] = field(default_factory=dict)  # cluster -> why placement ranks it there


def clusters_named(value: Any, snapshot: InventorySnapshot) -> tuple[str, ...] | None:
    """The clusters a request's ``cluster`` field names (None: let the hub choose).

    Bad syntax raises ``JobSpecError``; a cluster this federation does not have, BadRequest
    naming the clusters it has.
    """
    names = parse_cluster_field(value)
    if names is None:
        return None
    known = [c.name for c in snapshot.clusters]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise BadRequest(f"Unknown cluster {unknown[0]!r}. The clusters of this federation are: "
                         f"{', '.join(known)}; or use \"{AUTO}\" to let the hub choose.")
    return tuple(names)


def resolve_gpu_type(name: str | None, count: int, snapshot: InventorySnapshot) -> str | None:
    """The canonical GPU type for a spec's GPU request (``"any"`` for a count without a type)."""
    if not count:
        return None
    if name is None:
        return ANY_GPU
    seen = {g for c in snapshot.clusters for g in c.gpus}
    try:
        return parse_gpu_type(name, known=[parse_gpu_type(g, strict=False) for g in seen]).name
    except GpuTypeError as err:
        types = ", ".join(sorted(seen)) or "none"
        raise BadRequest(f"{err} The GPU types in this federation are: {types}.") from None


def job_placement(spec: JobSpec, gpu_type: str | None, user: str, groups: frozenset[str],
                  clusters: tuple[str, ...] | None) -> PlacementRequest:
    """The job's gang as one request: every GPU pod (Spark: executors, and the driver on CPU jobs);
    ``clusters`` is the user's choice (one, or several in failover order), None for the hub's."""
    pods = kinds.get(spec.kind).gang_pods(spec.nodes, spec.executors, spec.gpus.count)
    return placement_request(
        gpu_type=gpu_type, gpu_count=spec.gpus.count, pods=pods, cpu_milli=cpu_millis(spec.cpu),
        memory_bytes=units(spec.memory), user=user, groups=groups, chosen=clusters, image=spec.image,
        dataset=spec.dataset)


def plan(spec: JobSpec, snapshot: InventorySnapshot, user: str, groups: frozenset[str],
         cluster_field: Any) -> Plan:
    """Rank the clusters for ``spec``; raises BadRequest / Unsatisfiable with a message for people."""
    clusters = clusters_named(cluster_field, snapshot)
    unknown = unknown_dataset(spec.dataset, snapshot.clusters)
    if unknown:
        raise BadRequest(unknown)
    gpu_type = resolve_gpu_type(spec.gpus.type, spec.gpus.count, snapshot)
    request = job_placement(spec, gpu_type, user, groups, clusters)
    decision = place(request, snapshot)
    candidates = list(decision.candidates)
    user_order = bool(clusters) and len(clusters) > 1  # the user's list is a failover order, not a hint
    if user_order:
        candidates.sort(key=lambda c: clusters.index(c.cluster))
    if not candidates:
        raise Unsatisfiable(refusal(request, decision, snapshot))
    return Plan(request=request, order=tuple(c.cluster for c in candidates),
                gpu_types={c.cluster: c.gpu_type for c in candidates}, user_order=user_order,
                reasons={c.cluster: c.reason for c in candidates})


def replan(request: PlacementRequest, snapshot: InventorySnapshot, remaining: tuple[str, ...],
           user_order: bool) -> tuple[list[str], dict[str, str | None]]:
    """The clusters among ``remaining`` that fit ``request`` now, in the order to try them."""
    if not remaining:
        return [], {}
    narrowed = replace(request, explicit_cluster=None, allowed_clusters=remaining)
    candidates = list(place(narrowed, snapshot).candidates)
    if user_order:
        candidates.sort(key=lambda c: remaining.index(c.cluster))
    return [c.cluster for c in candidates], {c.cluster: c.gpu_type for c in candidates}


# ---- refusals --------------------------------------------------------------------------------


def _largest_node(request: PlacementRequest, snapshot: InventorySnapshot) -> tuple[int, str] | None:
    """The most GPUs of the asked type one node has on a cluster the request may use, and where."""
    sizes = [(gpu.max_per_node, cluster.name) for cluster, gpu in usable_gpus(request, snapshot)
             if gpu.max_per_node]
    return max(sizes) if sizes else None


def refusal(request: PlacementRequest, decision: Decision, snapshot: InventorySnapshot) -> str:
    """One paragraph on why no cluster can run the job now, and what would fit."""
    per_pod, pods = request.gpu_count, request.pods
    reasons = " ".join(f"{r.reason}." for r in decision.rejected)
    if not request.gpu_type:
        return (f"No member cluster can run {pods} pod(s) of this job now. {reasons} Ask for less CPU or "
                "memory per node, or fewer nodes, or try again later.")
    what = "GPU" if request.gpu_type == ANY_GPU else gpu_display(request.gpu_type, snapshot)
    asked = f"{pods} node(s) × {per_pod} {what}"
    node = _largest_node(request, snapshot)
    if node and per_pod > node[0]:
        return (f"No member cluster can run {asked}: the largest {what} node you can use has {node[0]} "
                f"({node[1]}), and one node's GPUs can't be split across machines. Ask for at most "
                f"{node[0]} per node and more nodes instead. {reasons}")
    gang = largest_gang(request, snapshot)
    if gang:
        fit, cluster, display = gang
        hint = (f"The largest that fits now is {fit} node(s) × {per_pod} {display} on {cluster}; ask for "
                "that, or try again later.")
    else:
        hint = f"No usable cluster has {per_pod} {what} free on one node now; try again later."
    return f"No member cluster can run {asked} now. {hint} {reasons}".strip()
