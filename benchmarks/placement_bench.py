"""Placement benchmark: decision latency at 10 clusters × 5,000 nodes (goal: p99 ≤ 1 ms).

Builds 50,000 synthetic nodes (several GPU types and node sizes, random free GPUs, CPU and memory),
folds them into the aggregated snapshot the inventory publishes (a small local helper, so the numbers
are honest), then times ``place`` for a mix of requests: typed, any-type, CPU-only, gangs, explicit.
Two of the ten clusters are seen only through quota (upper bounds), one is down, one has a type
reported full a few seconds ago.

The baseline, in the same run and for the same requests, is a naive placement that scans every node
of every cluster per decision. Its eligibility answers are checked against ``place`` on the clusters
with exact numbers, so the speed-up is not bought with different answers.

Prints one JSON document. Usage: python benchmarks/placement_bench.py [--decisions 20000] [--seed 7]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fedspawner.federation.gpus import parse_gpu_type  # noqa: E402
from fedspawner.federation.model import (  # noqa: E402
    POLICY_PACK, POLICY_SPREAD, SOURCE_QUOTA, ClusterSnapshot, GpuAvailability, InventorySnapshot,
    PlacementRequest,
)
from fedspawner.federation.placement import place  # noqa: E402

GIB = 2**30
NODES_PER_CLUSTER = 5000
NOW = 1_700_000_000.0
TYPES = ["nvidia-a100-40gb", "nvidia-a100-80gb", "nvidia-h100-80gb", "nvidia-l4", "nvidia-t4", "amd-mi250x"]
SIZES = {"nvidia-a100-40gb": (4, 8), "nvidia-a100-80gb": (4, 8), "nvidia-h100-80gb": (8,),
         "nvidia-l4": (1, 2, 4), "nvidia-t4": (1, 4), "amd-mi250x": (4, 8)}
# name, GPU types, share of GPU nodes, quota-only?, cost weight, labels, allowed groups
CLUSTERS = [
    ("cern-prod", TYPES[:3], 0.4, False, 1.0, {"site": "cern", "dataset": "cms"}, None),
    ("nautilus", ["nvidia-a100-80gb", "nvidia-l4", "nvidia-t4"], 0.5, False, 0.5, {"site": "ucsd"}, None),
    ("onprem", ["nvidia-a100-40gb", "nvidia-t4"], 0.3, False, 1.0, {"site": "lab"}, None),
    ("burst-aws", ["nvidia-h100-80gb", "nvidia-l4"], 0.6, True, 3.0, {"region": "us-east-1"}, None),
    ("gke-eu", ["nvidia-l4", "nvidia-t4", "nvidia-a100-40gb"], 0.5, False, 2.0, {"region": "eu"}, None),
    ("lumi", ["amd-mi250x"], 0.7, False, 1.0, {"site": "csc", "dataset": "climate"}, None),
    ("hpc-physics", ["nvidia-h100-80gb", "nvidia-a100-80gb"], 0.5, False, 1.0, {"site": "cern"},
     frozenset({"physics"})),
    ("azure-burst", ["nvidia-a100-80gb", "nvidia-t4"], 0.4, True, 2.5, {"region": "westeurope"}, None),
    ("edge-lab", ["nvidia-l4"], 0.2, False, 1.0, {"site": "lab"}, None),
    ("teaching", ["nvidia-t4"], 0.1, False, 0.8, {"site": "campus"}, frozenset({"students", "staff"})),
]
DOWN = "edge-lab"
FULL = ("nautilus", "nvidia-a100-80gb")


# --- synthetic nodes and their aggregates -----------------------------------------------------------

def make_nodes(rng: random.Random, types: list[str], gpu_share: float) -> list[tuple]:
    """(gpu type or None, GPUs on the node, GPUs free, free CPU millicores, free memory bytes) per node."""
    nodes = []
    for _ in range(NODES_PER_CLUSTER):
        if rng.random() < gpu_share:
            gtype = rng.choice(types)
            size = rng.choice(SIZES[gtype])
            free = rng.choices(range(size + 1), weights=[3] + [1] * size)[0]  # busy nodes are common
            cpu = rng.randint(0, 24 * size) * 1000 // 2
            memory = rng.randint(0, 96 * size) * GIB // 2
        else:
            gtype, size, free = None, 0, 0
            cpu = rng.randint(0, 128) * 250
            memory = rng.randint(0, 256) * GIB // 2
        nodes.append((gtype, size, free, cpu, memory))
    return nodes


def pareto(points: list[tuple[int, int]], limit: int = 16) -> tuple[tuple[int, int], ...]:
    """The (cpu, memory) pairs no other node beats on both, most CPU first.

    A pod's CPU and memory fit on some node iff they fit on one of these (when not cut by ``limit``).
    """
    front: list[tuple[int, int]] = []
    for cpu, memory in sorted(set(points), reverse=True):
        if not front or memory > front[-1][1]:
            front.append((cpu, memory))
    return tuple(front[:limit])


def aggregate(name: str, nodes: list[tuple], quota_only: bool, rng: random.Random) -> dict:
    """What the inventory would publish for these nodes: per-type aggregates and the CPU/memory frontier."""
    by_type: dict[str, list[tuple]] = defaultdict(list)
    for node in nodes:
        if node[0]:
            by_type[node[0]].append(node)
    gpus = {}
    for gtype, mine in sorted(by_type.items()):
        free = sum(n[2] for n in mine)
        total = sum(n[1] for n in mine)
        largest = max(n[1] for n in mine)
        display = parse_gpu_type(gtype).display
        if quota_only:  # namespace-scoped credential: only quota headroom, which overstates what is free
            bound = min(total, free + rng.randint(0, 16))
            gpus[gtype] = GpuAvailability(gtype, display, "nvidia.com/gpu", None, None, bound, None, largest,
                                          source=SOURCE_QUOTA, note=f"up to {bound} free, from quota")
        else:
            hist = tuple(sorted(Counter(n[2] for n in mine).items(), reverse=True))
            gpus[gtype] = GpuAvailability(gtype, display, "nvidia.com/gpu", total, free, None,
                                          max(n[2] for n in mine), largest, hist, note=f"{free} free")
    cpu_memory = () if quota_only else pareto([(n[3], n[4]) for n in nodes])
    return {"gpus": gpus, "cpu_memory_free": cpu_memory, "frontier_full": len(pareto(
        [(n[3], n[4]) for n in nodes], limit=10**9))}


def build(rng: random.Random) -> tuple[InventorySnapshot, dict[str, list[tuple]], dict]:
    clusters, nodes_by, frontier = [], {}, {}
    for name, types, share, quota_only, cost, labels, groups in CLUSTERS:
        nodes = make_nodes(rng, types, share)
        nodes_by[name] = nodes
        agg = aggregate(name, nodes, quota_only, rng)
        frontier[name] = agg["frontier_full"]
        clusters.append(ClusterSnapshot(
            name=name, display_name=name, healthy=name != DOWN,
            health_reason="apiserver unreachable for 8 s" if name == DOWN else "",
            visibility="namespace" if quota_only else "nodes", gpus=agg["gpus"],
            cpu_memory_free=agg["cpu_memory_free"], cost_weight=cost, labels=labels, allowed_groups=groups,
            recently_full={FULL[1]: NOW - 5} if name == FULL[0] else {}, updated_at=NOW))
    return InventorySnapshot(tuple(clusters), taken_at=NOW), nodes_by, frontier


def make_requests(rng: random.Random, n: int) -> list[tuple[str, PlacementRequest]]:
    names = [c[0] for c in CLUSTERS]
    out = []
    for i in range(n):
        kind = ("typed", "any", "cpu", "gang", "explicit")[i % 5]
        common = dict(
            cpu_milli=rng.choice([1000, 2000, 4000, 8000]), memory_bytes=rng.choice([4, 8, 16, 32, 64]) * GIB,
            user=f"user{i % 50}", groups=frozenset(rng.sample(["physics", "bio", "students", "staff"], 1)),
            policy=rng.choice([POLICY_PACK, POLICY_SPREAD]),
            preferred_clusters=tuple(rng.sample(names, rng.choice([0, 0, 1, 2]))),
            locality=rng.choice([{}, {}, {"site": "cern"}, {"dataset": "climate"}, {"region": "eu"}]),
            allowed_clusters=rng.choice([None, None, None, tuple(rng.sample(names, 6))]))
        gtype = rng.choice(TYPES)
        if kind == "typed":
            request = PlacementRequest(gpu_type=gtype, gpu_count=rng.choice([1, 1, 2, 4, 8]), **common)
        elif kind == "any":
            request = PlacementRequest(gpu_type="any", gpu_count=rng.choice([1, 2, 4]), **common)
        elif kind == "cpu":
            request = PlacementRequest(**common)
        elif kind == "gang":
            request = PlacementRequest(gpu_type=rng.choice([gtype, "any"]),
                                       gpu_count=rng.choice([1, 2, 4, 8]),
                                       pods=rng.choice([2, 4, 8, 16, 64]), **common)
        else:
            request = PlacementRequest(gpu_type=gtype, gpu_count=rng.choice([1, 2]),
                                       explicit_cluster=rng.choice(names), **common)
        out.append((kind, request))
    return out


# --- the baseline: a naive scan of every node, per decision -----------------------------------------

def naive_place(request: PlacementRequest, snapshot: InventorySnapshot,
                nodes_by: dict[str, list[tuple]]) -> tuple[list[str], set[str]]:
    """Same rules, computed from nodes each time. Returns (ranked cluster names, eligible names)."""
    per, pods = request.gpu_count, request.pods
    scored = []
    for c in snapshot.clusters:
        if request.explicit_cluster not in (None, c.name) or not c.healthy:
            continue
        if c.allowed_groups is not None and not (c.allowed_groups & request.groups):
            continue
        if request.allowed_clusters is not None and c.name not in request.allowed_clusters:
            continue
        free: Counter = Counter()
        slots: Counter = Counter()
        biggest: Counter = Counter()
        cpu_fits = False
        for gtype, size, gfree, cpu, memory in nodes_by[c.name]:
            if cpu >= request.cpu_milli and memory >= request.memory_bytes:
                cpu_fits = True
            if gtype is None or not per:
                continue
            if request.gpu_type not in ("any", gtype):
                continue
            free[gtype] += gfree
            slots[gtype] += gfree // per
            biggest[gtype] = max(biggest[gtype], size)
        if not cpu_fits:
            continue
        if request.gpu_type is None:
            left = 0.0
        else:
            fits = [(free[t] - per * pods, t) for t in free
                    if per <= biggest[t] and free[t] >= per * pods and slots[t] >= pods]
            if not fits:
                continue
            left = min(fits)[0] if request.policy == POLICY_PACK else max(fits)[0]
        fit = 100 / (1 + left) if request.policy == POLICY_PACK else 100 * left / (1 + left)
        score = fit - 50 * c.cost_weight
        score += 1000 * sum(c.labels.get(k) == v for k, v in request.locality.items())
        if c.name in request.preferred_clusters:
            score += 150 / (1 + request.preferred_clusters.index(c.name))
        scored.append((-score, c.name))
    scored.sort()
    return [name for _, name in scored], {name for _, name in scored}


# --- timing ---------------------------------------------------------------------------------------

def percentiles(samples_ns: list[int]) -> dict:
    s = sorted(samples_ns)

    def at(q: float) -> float:
        return round(s[min(len(s) - 1, int(q * len(s)))] / 1000, 1)

    return {"n": len(s), "p50_us": at(0.50), "p99_us": at(0.99), "max_us": round(s[-1] / 1000, 1),
            "mean_us": round(statistics.fmean(s) / 1000, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=20000, help="timed place() decisions (≥ 10,000)")
    parser.add_argument("--baseline", type=int, default=300, help="timed naive-scan decisions")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    t0 = time.perf_counter()
    snapshot, nodes_by, frontier = build(rng)
    build_s = time.perf_counter() - t0
    requests = make_requests(rng, 1000)

    for _, request in requests[:500]:  # warm-up
        place(request, snapshot, now=NOW)
    samples, by_kind = [], defaultdict(list)
    candidates = 0
    for i in range(args.decisions):
        kind, request = requests[i % len(requests)]
        start = time.perf_counter_ns()
        decision = place(request, snapshot, now=NOW)
        elapsed = time.perf_counter_ns() - start
        samples.append(elapsed)
        by_kind[kind].append(elapsed)
        candidates += len(decision.candidates)

    naive_samples, agree, checked = [], 0, 0
    exact = {c.name for c in snapshot.clusters if c.visibility == "nodes"}
    for kind, request in requests[:args.baseline]:
        start = time.perf_counter_ns()
        _, eligible = naive_place(request, snapshot, nodes_by)
        naive_samples.append(time.perf_counter_ns() - start)
        ours = {c.cluster for c in place(request, snapshot, now=NOW).candidates}
        checked += 1
        agree += (ours & exact) == (eligible & exact)

    fast, slow = percentiles(samples), percentiles(naive_samples)
    print(json.dumps({
        "clusters": len(snapshot.clusters),
        "nodes": sum(len(n) for n in nodes_by.values()),
        "gpu_nodes": sum(1 for n in nodes_by.values() for node in n if node[0]),
        "gpu_types_per_cluster": {c.name: len(c.gpus) for c in snapshot.clusters},
        "cpu_memory_frontier_sizes": frontier,
        "synthetic_build_and_aggregate_s": round(build_s, 2),
        "python": sys.version.split()[0],
        "place": fast,
        "place_by_kind": {k: percentiles(v) for k, v in sorted(by_kind.items())},
        "mean_candidates_per_decision": round(candidates / args.decisions, 2),
        "naive_node_scan": slow,
        "ratio_naive_over_place": {"p50": round(slow["p50_us"] / fast["p50_us"], 1),
                                   "p99": round(slow["p99_us"] / fast["p99_us"], 1)},
        "eligibility_agreement_on_exact_clusters": {"checked": checked, "agree": agree},
        "goal_p99_us": 1000,
        "goal_met": fast["p99_us"] <= 1000,
    }, indent=2))


if __name__ == "__main__":
    main()
