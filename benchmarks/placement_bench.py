"""Placement benchmark: decision latency at 10 clusters × 5,000 nodes (goal: p99 ≤ 1 ms).

Builds 50,000 synthetic nodes (several GPU types and node sizes, random free GPUs, CPU and memory, a
few cordoned), folds them into the snapshot the inventory publishes with the inventory's own
functions (``federation.aggregate``), then times ``place`` for a mix of requests: typed, any-type,
CPU-only, gangs, explicit. Two of the ten clusters are seen only through quota (upper bounds, no node
sizes, as the inventory gives them), one exact cluster has a GPU quota, one is down, one has a type
reported full a few seconds ago.

Timing is per decision, in CPU time of this thread (``time.thread_time_ns``: another process on the
machine does not count against ``place``), with the garbage collector's view of the data frozen after
building it, and repeated: percentiles are given per repeat and the goal is judged on the median p99.

The baseline, in the same run and for the same requests, is a naive placement that scans every node
of every cluster per decision. Its eligibility answers are checked against ``place`` on the clusters
with exact numbers, so the speed-up is not bought with different answers.

Prints one JSON document.
Usage: python benchmarks/placement_bench.py [--decisions 10000] [--repeats 5] [--seed 7]
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fedspawner.federation.aggregate import cpu_memory_frontier, gpu_availability  # noqa: E402
from fedspawner.federation.gpu_catalog import VENDOR_RESOURCES  # noqa: E402
from fedspawner.federation.gpus import parse_gpu_type  # noqa: E402
from fedspawner.federation.model import (  # noqa: E402
    POLICY_PACK, POLICY_SPREAD, SOURCE_QUOTA, ClusterSnapshot, GpuAvailability, InventorySnapshot,
    PlacementRequest,
)
from fedspawner.federation.placement import place  # noqa: E402

GIB = 2**30
NODES_PER_CLUSTER = 5000
CORDONED = 0.02  # share of nodes that are not schedulable (cordoned, not ready)
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
QUOTA = {"onprem": {"nvidia.com/gpu": 40}}  # the hub's GPU quota on a cluster whose nodes it sees


def resource_of(gpu_type: str) -> str:
    return VENDOR_RESOURCES[parse_gpu_type(gpu_type).vendor]


# --- synthetic nodes and their aggregates -----------------------------------------------------------

def make_nodes(rng: random.Random, types: list[str], gpu_share: float) -> list[tuple]:
    """(gpu type or None, GPUs on the node, GPUs free, free CPU millicores, free memory bytes, schedulable)
    per node."""
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
        nodes.append((gtype, size, free, cpu, memory, rng.random() >= CORDONED))
    return nodes


def visible_gpus(nodes: list[tuple], quota: dict[str, int]) -> dict[str, GpuAvailability]:
    """What the inventory publishes for a cluster whose nodes it watches (it uses the same function)."""
    by_type: dict[str, list[tuple[int, int, bool]]] = defaultdict(list)
    for gtype, size, free, _, _, schedulable in nodes:
        if gtype:
            by_type[gtype].append((size, size - free, schedulable))
    return {gtype: gpu_availability(gtype, parse_gpu_type(gtype).display, resource_of(gtype), counts,
                                    quota.get(resource_of(gtype)))
            for gtype, counts in sorted(by_type.items())}


def quota_gpus(nodes: list[tuple], rng: random.Random) -> dict[str, GpuAvailability]:
    """What the inventory publishes for a cluster seen only through its namespace: an upper bound from
    quota (which overstates what is free), no node sizes, no histogram."""
    out = {}
    for gtype in sorted({n[0] for n in nodes if n[0]}):
        mine = [n for n in nodes if n[0] == gtype]
        total = sum(n[1] for n in mine)
        bound = min(total, sum(n[2] for n in mine if n[5]) + rng.randint(0, 16))
        out[gtype] = GpuAvailability(
            gpu_type=gtype, display=parse_gpu_type(gtype).display, resource=resource_of(gtype), total=total,
            free=None, free_upper_bound=bound, largest_free_on_one_node=None, max_per_node=None,
            source=SOURCE_QUOTA, note=f"up to {bound} free, from quota")
    return out


def build(rng: random.Random) -> tuple[InventorySnapshot, dict[str, list[tuple]]]:
    clusters, nodes_by = [], {}
    for name, types, share, quota_only, cost, labels, groups in CLUSTERS:
        nodes = make_nodes(rng, types, share)
        nodes_by[name] = nodes
        if quota_only:
            gpus, frontier = quota_gpus(nodes, rng), ()
        else:
            gpus = visible_gpus(nodes, QUOTA.get(name, {}))
            frontier = cpu_memory_frontier((n[3], n[4]) for n in nodes if n[5])
        clusters.append(ClusterSnapshot(
            name=name, display_name=name, healthy=name != DOWN,
            health_reason="apiserver unreachable for 8 s" if name == DOWN else "",
            visibility="namespace" if quota_only else "nodes", gpus=gpus,
            cpu_memory_free=frontier, cost_weight=cost, labels=labels, allowed_groups=groups,
            recently_full={FULL[1]: NOW - 5} if name == FULL[0] else {}))
    return InventorySnapshot(tuple(clusters), taken_at=NOW), nodes_by


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
        for gtype, size, gfree, cpu, memory, schedulable in nodes_by[c.name]:
            if gtype is not None and per and request.gpu_type in ("any", gtype):
                biggest[gtype] = max(biggest[gtype], size)  # a cordoned node still sizes the type
            if not schedulable:
                continue
            if cpu >= request.cpu_milli and memory >= request.memory_bytes:
                cpu_fits = True
            if gtype is not None and per and request.gpu_type in ("any", gtype):
                free[gtype] += gfree
                slots[gtype] += gfree // per
        if not cpu_fits:
            continue
        if request.gpu_type is None:
            left = 0.0
        else:
            quota = QUOTA.get(c.name, {})
            for t in free:
                free[t] = min(free[t], quota.get(resource_of(t), free[t]))
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


def timed(call, *args, **kwargs) -> tuple[object, int]:
    """``call(*args, **kwargs)`` and the CPU time this thread spent in it, in nanoseconds."""
    start = time.thread_time_ns()
    result = call(*args, **kwargs)
    return result, time.thread_time_ns() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=10000, help="timed place() decisions per repeat")
    parser.add_argument("--repeats", type=int, default=5, help="how many times the decisions are timed")
    parser.add_argument("--baseline", type=int, default=300, help="timed naive-scan decisions")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    t0 = time.perf_counter()
    snapshot, nodes_by = build(rng)
    build_s = time.perf_counter() - t0
    requests = make_requests(rng, 1000)
    gc.collect()
    gc.freeze()  # the snapshot and nodes are long-lived: keep collections from walking them while timing

    for _, request in requests[:500]:  # warm-up
        place(request, snapshot, now=NOW)
    repeats, by_kind = [], defaultdict(list)
    candidates = 0
    for _ in range(args.repeats):
        samples = []
        for i in range(args.decisions):
            kind, request = requests[i % len(requests)]
            decision, elapsed = timed(place, request, snapshot, now=NOW)
            samples.append(elapsed)
            by_kind[kind].append(elapsed)
            candidates += len(decision.candidates)
        repeats.append(samples)

    naive_samples, agree, checked = [], 0, 0
    exact = {c.name for c in snapshot.clusters if c.visibility == "nodes"}
    for kind, request in requests[:args.baseline]:
        (_, eligible), elapsed = timed(naive_place, request, snapshot, nodes_by)
        naive_samples.append(elapsed)
        ours = {c.cluster for c in place(request, snapshot, now=NOW).candidates}
        checked += 1
        agree += (ours & exact) == (eligible & exact)

    per_repeat = [percentiles(samples) for samples in repeats]
    p99s = [r["p99_us"] for r in per_repeat]
    p50 = statistics.median(r["p50_us"] for r in per_repeat)
    p99 = statistics.median(p99s)
    slow = percentiles(naive_samples)
    print(json.dumps({
        "clusters": len(snapshot.clusters),
        "nodes": sum(len(n) for n in nodes_by.values()),
        "gpu_nodes": sum(1 for n in nodes_by.values() for node in n if node[0]),
        "cordoned_nodes": sum(1 for n in nodes_by.values() for node in n if not node[5]),
        "gpu_types_per_cluster": {c.name: len(c.gpus) for c in snapshot.clusters},
        "cpu_memory_frontier_sizes": {c.name: len(c.cpu_memory_free) for c in snapshot.clusters},
        "synthetic_build_and_aggregate_s": round(build_s, 2),
        "python": sys.version.split()[0],
        "timer": "thread CPU time (time.thread_time_ns), gc.freeze() after building",
        "place": {"repeats": args.repeats, "decisions_per_repeat": args.decisions, "p50_us_median": p50,
                  "p99_us_median": p99, "p99_us_per_repeat": p99s, "all": percentiles(
                      [t for samples in repeats for t in samples])},
        "place_by_kind": {k: percentiles(v) for k, v in sorted(by_kind.items())},
        "mean_candidates_per_decision": round(candidates / (args.decisions * args.repeats), 2),
        "naive_node_scan": slow,
        "ratio_naive_over_place": {"p50": round(slow["p50_us"] / p50, 1), "p99": round(slow["p99_us"] / p99, 1)},
        "eligibility_agreement_on_exact_clusters": {"checked": checked, "agree": agree},
        "goal_p99_us": 1000,
        "goal_met": p99 <= 1000,
    }, indent=2))


if __name__ == "__main__":
    main()
