"""Placement: a request plus an inventory snapshot -> ranked candidates and rejections, with reasons.

``place`` is a pure function. It reads only the aggregated snapshot (per cluster and GPU type), so a
decision costs O(clusters × GPU types), whatever the number of nodes; the one inner loop is over a
type's ``free_histogram``, whose length is the number of distinct free counts (≤ GPUs per node + 1).
It reads the clock only when ``now`` is not given and a cluster reports a type as recently full.

Eligibility. A cluster is rejected, with the first reason that applies, when: the user chose another
cluster; it is unhealthy; none of the user's groups may use it; the request does not allow it; the
request reads a protected dataset the cluster does not hold (``federation.datasets``); it has
no GPU of the requested type; a pod asks for more GPUs than its largest node of that type has (unless
``allow_multi_node``); not enough is free now; or no node has the CPU and memory a pod asks for (only
checked where node capacity is visible; the snapshot keeps CPU/memory per cluster, not per GPU type,
so this is "some node has it", not necessarily a node with the GPUs). Free GPUs are judged by the
source of the numbers:

- exact (``free`` known): ``free`` ≥ pods × GPUs per pod, and the GPUs must sit on nodes that can take
  them: ``largest_free_on_one_node`` ≥ GPUs per pod for one pod; for a gang, the sum over the histogram
  of nodes × floor(free on node / GPUs per pod) ≥ pods. With ``allow_multi_node`` only the total counts.
- upper bound only (quota, declared capacity): rejected only if the bound is below the need; otherwise a
  candidate, marked "not certain".
- nothing known: a candidate, marked "not certain".

Scoring (higher is better; ties are broken by cluster name, then GPU type name):

==========================  =====================================================================
certainty                   +400 exact numbers, +200 upper bound only, 0 not visible
fit (policy)                0..100 from ``left`` = what stays free after placing (GPUs of that type;
                            for CPU-only requests, core-equivalents on the best node: cores + GiB/4).
                            pack: 100 / (1 + left) — the tightest fit wins, so big nodes stay whole;
                            spread: 100 × left / (1 + left) — the most room wins.
locality                    +1000 per label of ``request.locality`` that the cluster carries, and
                            +1000 when it holds the request's (unprotected) dataset
image present               +120 when the request's image is on the cluster's nodes (``status.images``),
                            or the hub's own pods started from it there recently (namespace view)
CPU-only on GPU nodes       −120 for a CPU-only request that fits only on nodes with GPUs (where the
                            nodes are visible; a cluster with room on CPU-only nodes is preferred)
preferred clusters          +150 / (1 + position) for a cluster in ``request.preferred_clusters``
recently full               −350 if scheduling reported this GPU type full in the last 60 s
cost                        −50 × ``cost_weight`` (default weight 1: −50 everywhere)
==========================  =====================================================================

Cost is noted in the reasons whenever the candidates' weights differ ("lowest cost (×1)",
"dearer (cost ×3, 3× the cheapest)"). Two units of weight (100 points) outweigh the whole fit
range, so with a cloud cluster weighted 3 and on-prem 1 a request that fits on-prem stays there
whatever the tightest fit is, and goes to the cloud once on-prem has no room for it.

An image already present beats any fit difference but not a first preference or a step of
certainty (pulling a large image costs minutes, guessing wrong about capacity costs a failover).
So a data-local cluster wins over every cluster that is not (only a huge cost difference, 50 points
per unit of weight, could undo that); a step of certainty (200) is worth more than the whole fit range;
a first preference (150) outweighs any fit, a later one less so, and with a good fit it can outweigh
one step of certainty; a type reported full in the last minute falls below otherwise equal clusters
of the next-lower certainty; pack/spread decides among otherwise equal clusters. With
``gpu_type == "any"`` every type of a cluster is scored this way and the best one stands for it.
The user's explicit choice is not scored: every other cluster is rejected ("you chose X").
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import lru_cache

from .datasets import holders
from .model import (
    POLICY_PACK, POLICY_SPREAD, SOURCE_DECLARED, SOURCE_QUOTA, Candidate, ClusterSnapshot,
    Decision, GpuAvailability, InventorySnapshot, PlacementRequest, Rejection,
)

ANY_GPU = "any"
RECENTLY_FULL_S = 60.0

EXACT_POINTS = 400.0
BOUND_POINTS = 200.0
FIT_POINTS = 100.0
LOCALITY_POINTS = 1000.0
PREFERRED_POINTS = 150.0
RECENTLY_FULL_PENALTY = 350.0  # more than one certainty step plus the whole fit range
COST_POINTS = 50.0
IMAGE_POINTS = 120.0
GPU_NODE_PENALTY = 120.0
GIB_PER_CORE = 4.0  # weighs memory against CPU when ranking CPU-only fits

_GIB = 2**30
_SOURCE_WORDS = {SOURCE_QUOTA: "from quota", SOURCE_DECLARED: "from declared capacity"}
_FIT_WORDS = {POLICY_PACK: "tightest fit", POLICY_SPREAD: "most room"}


@dataclass(slots=True)
class _Option:
    """One way to place the request on one cluster (a GPU type, or CPU only), before bonuses."""

    gpu_type: str | None
    score: float
    text: str  # what is there: "6 × NVIDIA A100 40GB free"
    left: str = ""  # what placing leaves, for the fit phrase; "" when the numbers are not exact
    fit: float = 0.0
    notes: list[str] = field(default_factory=list)
    cost: float = 1.0  # the cluster's cost_weight


class _Clock:
    """``now`` if given, else ``time.time()`` read once, on first use."""

    __slots__ = ("now",)

    def __init__(self, now: float | None) -> None:
        self.now = now

    def __call__(self) -> float:
        if self.now is None:
            self.now = time.time()
        return self.now


def place(request: PlacementRequest, snapshot: InventorySnapshot, now: float | None = None) -> Decision:
    """Rank the clusters of ``snapshot`` for ``request``.

    Returns every eligible cluster as a :class:`Candidate`, best first, and every other cluster as a
    :class:`Rejection`, each with a short reason in researchers' words. ``now`` (seconds since the
    epoch) ages ``recently_full`` reports; ``time.time()`` when omitted. Raises ``ValueError`` for a
    malformed request (a programming error: the form and job validation catch user mistakes first).
    """
    _check(request)
    clock = _Clock(now)
    explicit = request.explicit_cluster
    allowed = None if request.allowed_clusters is None else frozenset(request.allowed_clusters)
    preferred: dict[str, int] = {}
    for i, name in enumerate(request.preferred_clusters):
        preferred.setdefault(name, i)
    wanted = request.gpu_type
    gpu_request = wanted is not None
    cpu_need = request.cpu_milli > 0 or request.memory_bytes > 0

    ranked: list[tuple[float, str, str, _Option]] = []
    rejected: list[Rejection] = []
    explicit_rejection: Rejection | None = None
    explicit_seen = False
    wanted_display: str | None = None  # looked up once, only if some cluster lacks the type
    dataset = request.dataset
    data_on, protected = holders(dataset, snapshot.clusters) if dataset else ([], False)
    for cluster in snapshot.clusters:
        name = cluster.name
        if explicit is not None:
            if name != explicit:
                rejected.append(Rejection(name, f"{name}: you chose {explicit}"))
                continue
            explicit_seen = True
        why = _access(cluster, request, allowed)
        if why is None and dataset and name not in data_on:
            why = _data_elsewhere(dataset, data_on, protected)
        if why is None:
            if not gpu_request:
                option = _cpu_option(cluster, request)
            elif wanted == ANY_GPU:
                option = _any_option(cluster, request, clock)
            else:
                gpu = cluster.gpus.get(wanted)
                if gpu is not None:
                    option = _gpu_option(cluster, gpu, request, clock)
                else:
                    wanted_display = wanted_display or gpu_display(wanted, snapshot)
                    has = ", ".join(sorted(g.display for g in cluster.gpus.values())) or "no GPUs"
                    option = f"no {wanted_display} here (has {has})"
            if isinstance(option, str):
                why = option
            elif gpu_request and cpu_need:
                why = _cpu_misfit(cluster, request)
        if why is not None:
            rejection = Rejection(name, f"{name}: {why}")
            if name == explicit:
                explicit_rejection = rejection
            else:
                rejected.append(rejection)
            continue
        score = option.score + _bonus(cluster, request, preferred, option.notes)
        if dataset:
            score += _data_bonus(dataset, name in data_on, data_on, option.notes)
        option.cost = cluster.cost_weight
        ranked.append((-score, name, option.gpu_type or "", option))

    if explicit is not None and not explicit_seen:
        explicit_rejection = Rejection(explicit, f"{explicit}: no cluster of that name in this federation")
    if explicit_rejection is not None:
        rejected.insert(0, explicit_rejection)
    ranked.sort(key=lambda r: r[:3])
    return Decision(_candidates(ranked, request.policy), tuple(rejected))


def _check(request: PlacementRequest) -> None:
    if request.policy not in _FIT_WORDS:
        raise ValueError(f"unknown placement policy {request.policy!r}: "
                         f"use {POLICY_PACK!r} or {POLICY_SPREAD!r}")
    if request.pods < 1:
        raise ValueError(f"pods must be at least 1, got {request.pods}")
    if request.gpu_count < 0 or request.cpu_milli < 0 or request.memory_bytes < 0:
        raise ValueError("GPU count, CPU and memory cannot be negative")
    if request.gpu_type is None and request.gpu_count:
        raise ValueError(f"{request.gpu_count} GPUs asked without a GPU type: name one, or use {ANY_GPU!r}")
    if request.gpu_type is not None and not request.gpu_count:
        raise ValueError(f"GPU type {request.gpu_type!r} asked with no GPUs: ask for at least 1, "
                         "or leave the type out for a CPU-only server")


def _access(cluster: ClusterSnapshot, request: PlacementRequest,
            allowed: frozenset[str] | None) -> str | None:
    """Why this user or request may not use the cluster at all, or None."""
    if not cluster.healthy:
        return f"unavailable — {cluster.health_reason}" if cluster.health_reason else "unavailable"
    groups = cluster.allowed_groups
    if not cluster.open_to(request.groups):
        if not groups:
            return "open to no group"
        if len(groups) == 1:
            return f"only for group {next(iter(groups))}; you are not a member"
        return f"only for groups {', '.join(sorted(groups))}; you are in none of them"
    if allowed is not None and cluster.name not in allowed:
        return "not among the clusters allowed here" + (f" ({', '.join(sorted(allowed))})" if allowed else "")
    return None


def _data_elsewhere(dataset: str, data_on: list[str], protected: bool) -> str | None:
    """Why a cluster that does not hold the request's dataset may not run it, or None (it may)."""
    if not data_on:
        return f"no member cluster holds the dataset {dataset}"
    if protected:
        return f"the dataset {dataset} is protected and never leaves {', '.join(data_on)}"
    return None


def _data_bonus(dataset: str, here: bool, data_on: list[str], notes: list[str]) -> float:
    """Points (and a note) for where the request's dataset is."""
    if here:
        notes.insert(0, f"holds the dataset {dataset}")
        return LOCALITY_POINTS
    notes.append(f"reads the dataset {dataset} from {', '.join(data_on)}")
    return 0.0


def _gpu_option(cluster: ClusterSnapshot, gpu: GpuAvailability, request: PlacementRequest,
                clock: _Clock) -> _Option | str:
    """Score one GPU type of one cluster for the request, or say why it does not fit."""
    per_pod, pods = request.gpu_count, request.pods
    need = per_pod * pods
    display = gpu.display
    one_node = not request.allow_multi_node
    what = f"asks {per_pod}" if pods == 1 else f"the job needs {pods} workers × {per_pod} = {need}"
    if one_node and gpu.max_per_node is not None and per_pod > gpu.max_per_node:
        unit = "server" if pods == 1 else "worker"
        return f"asks {per_pod} GPUs per {unit}; the largest {display} node here has {gpu.max_per_node}"

    free = gpu.free
    if free is not None:  # exact numbers
        if free < need:
            if free <= 0:
                return f"no {display} free now"
            return f"only {free} × {display} free now; {what}"
        text = f"{free} × {display} free"
        if one_node and pods == 1:
            largest = gpu.largest_free_on_one_node
            if largest is not None and largest < per_pod:
                return f"{free} × {display} free, but at most {largest} on one node; {what}"
        elif one_node:
            slots = _slots(gpu.free_histogram, per_pod, pods)
            if slots is not None and slots < pods:
                return (f"{free} × {display} free, but spread too thin: only {slots} of {pods} workers "
                        f"× {per_pod} fit on its nodes")
            text += f", room for {pods} workers × {per_pod}"
        left = free - need
        fit = _fit(left, request.policy)
        option = _Option(gpu.gpu_type, EXACT_POINTS + fit, text, f"leaves {left} free", fit)
    elif gpu.free_upper_bound is not None:  # only a bound: reject only when even the bound is short
        bound = gpu.free_upper_bound
        source = _SOURCE_WORDS.get(gpu.source, "estimated")
        if bound < need:
            return f"at most {bound} × {display} free ({source}); {what}"
        fit = _fit(bound - need, request.policy)
        option = _Option(gpu.gpu_type, BOUND_POINTS + fit, f"up to {bound} × {display} free, {source}",
                         notes=["not certain"])
    else:
        option = _Option(gpu.gpu_type, 0.0, f"has {display}; free count not visible", notes=["not certain"])

    reported = cluster.recently_full.get(gpu.gpu_type)
    if reported is not None:
        age = clock() - reported
        if age <= RECENTLY_FULL_S:
            option.score -= RECENTLY_FULL_PENALTY
            option.notes.append(f"reported full {max(int(age), 0)} s ago")
    return option


def _any_option(cluster: ClusterSnapshot, request: PlacementRequest, clock: _Clock) -> _Option | str:
    """The best GPU type of the cluster for an "any type" request, or why none fits."""
    if not cluster.gpus:
        return "no GPUs here"
    best: _Option | None = None
    misses: list[str] = []
    for gpu in cluster.gpus.values():
        option = _gpu_option(cluster, gpu, request, clock)
        if isinstance(option, str):
            misses.append(option)
        elif best is None or (-option.score, option.gpu_type) < (-best.score, best.gpu_type):
            best = option
    if best is not None:
        return best
    return misses[0] if len(misses) == 1 else "no GPU type fits: " + " · ".join(misses)


def _cpu_option(cluster: ClusterSnapshot, request: PlacementRequest) -> _Option | str:
    """Score a CPU-only request by the node that fits it best under the policy, or say why none does.
    Nodes without GPUs are tried first; fitting only on GPU nodes costs ``GPU_NODE_PENALTY``."""
    if not cluster.cpu_memory_free:
        return _Option(None, 0.0, "capacity not visible", notes=["not certain"])
    if cluster.cpu_only_free:
        option = _best_node(cluster.cpu_only_free, request, "a CPU-only node")
        if option is not None:
            return option
    option = _best_node(cluster.cpu_memory_free, request)
    if option is None:
        return _cpu_misfit(cluster, request) or "no node fits"
    if cluster.cpu_only_free is not None:
        option.score -= GPU_NODE_PENALTY
        option.notes.append("room only on GPU nodes" if cluster.cpu_only_free else "only GPU nodes here")
    return option


def _best_node(nodes: tuple[tuple[int, int], ...], request: PlacementRequest, what: str = "a node"
               ) -> _Option | None:
    """The option for the node of ``nodes`` that fits a CPU-only request best, or None."""
    cpu, memory = request.cpu_milli, request.memory_bytes
    spread = request.policy == POLICY_SPREAD
    chosen: tuple[float, int, int] | None = None
    for node_cpu, node_memory in nodes:  # a handful of the roomiest nodes, not every node
        if node_cpu >= cpu and node_memory >= memory:
            left = (node_cpu - cpu) / 1000 + (node_memory - memory) / _GIB / GIB_PER_CORE
            if chosen is None or (left > chosen[0] if spread else left < chosen[0]):
                chosen = (left, node_cpu, node_memory)
    if chosen is None:
        return None
    left, node_cpu, node_memory = chosen
    fit = _fit(left, request.policy)
    text = f"{what} with {_cpus(node_cpu)}, {_bytes(node_memory)} free"
    left_text = f"leaves {_cpus(node_cpu - cpu)}, {_bytes(node_memory - memory)} there"
    return _Option(None, EXACT_POINTS + fit, text, left_text, fit)


def _cpu_misfit(cluster: ClusterSnapshot, request: PlacementRequest) -> str | None:
    """Why no visible node has the CPU and memory of one pod, or None (fits, or not visible)."""
    nodes = cluster.cpu_memory_free
    cpu, memory = request.cpu_milli, request.memory_bytes
    if not nodes or any(c >= cpu and m >= memory for c, m in nodes):
        return None
    asked = " and ".join(p for p in (cpu and _cpus(cpu), memory and _bytes(memory)) if p)
    top_cpu, top_memory = nodes[0]
    return f"no node has {asked} free now (the roomiest: {_cpus(top_cpu)}, {_bytes(top_memory)})"


def _bonus(cluster: ClusterSnapshot, request: PlacementRequest, preferred: dict[str, int],
           notes: list[str]) -> float:
    """Locality, image, preference and cost points; appends a note for each that applies but cost
    (noted by ``_candidates``, relative to the other candidates)."""
    points = 0.0
    labels = cluster.labels
    matched = [f"{k}={v}" for k, v in request.locality.items() if labels.get(k) == v]
    if matched:
        points += LOCALITY_POINTS * len(matched)
        notes.insert(0, "near your data: " + ", ".join(matched))
    image = request.image
    if image is not None and (image in cluster.images or image in cluster.recent_images):
        points += IMAGE_POINTS
        notes.append("image already on its nodes" if image in cluster.images else "image pulled here recently")
    rank = preferred.get(cluster.name)
    if rank is not None:
        points += PREFERRED_POINTS / (1 + rank)
        notes.append("preferred" if len(preferred) == 1 else f"preference #{rank + 1}")
    return points - COST_POINTS * cluster.cost_weight


def _candidates(ranked: list[tuple[float, str, str, _Option]], policy: str) -> tuple[Candidate, ...]:
    """Candidates with their reasons; the best fit among exact numbers is called out, and so is
    cost where the candidates' cost weights differ."""
    best_fit = max((r[3].fit for r in ranked if r[3].left), default=None)
    fit_words = f"{_FIT_WORDS[policy]} ({policy})"
    lowest = min((r[3].cost for r in ranked), default=1.0)
    priced = len({r[3].cost for r in ranked}) > 1
    out = []
    for neg_score, name, _, option in ranked:
        notes = option.notes
        if option.left:
            notes = [fit_words if option.fit == best_fit else f"{option.left} ({policy})", *notes]
        if priced:
            notes = [*notes, _cost_words(option.cost, lowest)]
        reason = f"{name}: {option.text}" + (" — " + "; ".join(notes) if notes else "")
        out.append(Candidate(name, option.gpu_type, -neg_score, reason))
    return tuple(out)


def _cost_words(weight: float, lowest: float) -> str:
    """How a candidate's cost compares with the cheapest candidate's."""
    if weight == lowest:
        return f"lowest cost (×{weight:g})"
    return f"dearer (cost ×{weight:g}, {weight / lowest:.3g}× the cheapest)"


def _fit(left: float, policy: str) -> float:
    """0..FIT_POINTS: pack rewards little left over, spread rewards much."""
    room = left / (1.0 + left) if left > 0 else 0.0
    return FIT_POINTS * (room if policy == POLICY_SPREAD else 1.0 - room)


def _slots(histogram: tuple[tuple[int, int], ...], per_pod: int, pods: int) -> int | None:
    """How many pods of ``per_pod`` GPUs the nodes can take (stops counting at ``pods``); None: unknown."""
    if not histogram:
        return None
    slots = 0
    for free, nodes in histogram:
        if free >= per_pod and nodes > 0:
            slots += nodes * (free // per_pod)
            if slots >= pods:
                break
    return slots


def gpu_display(gpu_type: str, snapshot: InventorySnapshot) -> str:
    """Display name of a type: as a cluster reports it, else from the GPU catalog, else the raw name."""
    for cluster in snapshot.clusters:
        gpu = cluster.gpus.get(gpu_type)
        if gpu is not None:
            return gpu.display
    return _catalog_display(gpu_type)


@lru_cache(maxsize=256)
def _catalog_display(gpu_type: str) -> str:
    from .gpus import GpuTypeError, parse_gpu_type

    try:
        return parse_gpu_type(gpu_type, strict=False).display
    except GpuTypeError:
        return gpu_type


def _cpus(millis: int) -> str:
    cores = millis / 1000
    return f"{cores:g} CPU" + ("" if cores == 1 else "s")


def _bytes(count: int) -> str:
    if count >= _GIB:
        return f"{count / _GIB:.1f}".removesuffix(".0") + " GiB"
    return f"{count / 2**20:.0f} MiB"


def usable_gpus(request: PlacementRequest, snapshot: InventorySnapshot
                ) -> list[tuple[ClusterSnapshot, GpuAvailability]]:
    """Every GPU type the request asks for on every cluster it may use at all (by the rules
    ``place`` applies first: its explicit choice or allowed clusters, healthy, open to its
    groups), whatever is free there now. ``(cluster, GPU type)`` pairs, in snapshot order."""
    allowed = None if request.allowed_clusters is None else frozenset(request.allowed_clusters)
    return [(cluster, gpu) for cluster in snapshot.clusters
            if request.explicit_cluster in (None, cluster.name) and _access(cluster, request, allowed) is None
            for gpu in cluster.gpus.values() if request.gpu_type in (ANY_GPU, gpu.gpu_type)]


def largest_gang(request: PlacementRequest, snapshot: InventorySnapshot) -> tuple[int, str, str] | None:
    """The most pods of ``request.gpu_count`` GPUs each that fit now on one cluster the request may
    use: ``(pods, cluster, GPU display name)``, or None when none is known to fit (or no GPUs are asked).

    Judged as ``place`` judges a gang: the best known free count (exact, else the upper bound), and
    unless ``allow_multi_node`` only whole pods per node (the free histogram, else the largest free
    on one node and the largest node). CPU and memory are not considered.
    """
    per_pod = request.gpu_count
    if per_pod <= 0:
        return None
    best: tuple[int, str, str] | None = None
    for cluster, gpu in usable_gpus(request, snapshot):
        fit = _gang_size(gpu, per_pod, one_node=not request.allow_multi_node)
        if fit and (best is None or fit > best[0]):
            best = (fit, cluster.name, gpu.display)
    return best


def _gang_size(gpu: GpuAvailability, per_pod: int, one_node: bool) -> int | None:
    """How many pods of ``per_pod`` GPUs one GPU type could take now (None: unknown)."""
    if one_node and gpu.max_per_node is not None and per_pod > gpu.max_per_node:
        return 0
    free = gpu.best_known_free
    if free is None:
        return None
    fit = free // per_pod
    if one_node and gpu.free is not None:
        slots = _slots(gpu.free_histogram, per_pod, fit)
        largest = gpu.largest_free_on_one_node
        if slots is not None:
            fit = min(fit, slots)
        elif largest is not None and largest < per_pod:
            fit = 0
    return fit
