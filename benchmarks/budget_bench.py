"""GPU budget check: what enforcing a federation-wide budget adds to a spawn or a submission.

10 member clusters, each with 2,000 GPU pods in the hub's namespace (servers and job ranks of 500
users), are folded into the real ``ClusterInventory`` bookkeeping (``_note_holding``, as the pod
watch does), behind a real ``ClusterRegistry``; then ``registry.over_budget`` is timed for random
users and sizes. Baseline in the same run: one ``place`` decision for a GPU request over the
placement benchmark's 10 clusters × 5,000 nodes, which every spawn and submission pays anyway.
Also measured: how long folding one pod event into the holdings takes.

Prints one JSON document. Usage: python benchmarks/budget_bench.py [--checks 5000] [--pods 2000]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from placement_bench import NOW, build, percentiles, timed  # noqa: E402

from fedspawner.federation.config import Federation  # noqa: E402
from fedspawner.federation.inventory import ClusterInventory  # noqa: E402
from fedspawner.federation.model import GPU_TYPE_LABEL, PlacementRequest  # noqa: E402
from fedspawner.federation.placement import place  # noqa: E402
from fedspawner.federation.registry import ClusterRegistry  # noqa: E402

CLUSTERS = 10
USERS = 5000


def gpu_pod(rng: random.Random, i: int, namespace: str) -> dict:
    user = f"user{rng.randrange(USERS)}"
    labels = {GPU_TYPE_LABEL: "nvidia-a100-40gb"}
    if rng.random() < 0.4:
        notes = {"hub.jupyter.org/username": user}
    else:
        job = f"j-{i:08d}"
        labels.update({"fedspawner.dev/job-name": f"train-{job[2:]}", "fedspawner.dev/job-id": job})
        notes = {"fedspawner.dev/owner-name": user}
    return {"metadata": {"name": f"p{i}", "namespace": namespace, "labels": labels, "annotations": notes},
            "spec": {"containers": [{"resources": {"limits": {"nvidia.com/gpu": str(rng.choice([1, 2, 4]))}}}]},
            "status": {"phase": "Running"}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=5000)
    parser.add_argument("--pods", type=int, default=2000, help="GPU pods per cluster")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        kubeconfig = Path(tmp) / "kubeconfig"
        kubeconfig.write_text("{}")
        federation = Federation(clusters=[{"name": f"c{i}", "kubeconfig": str(kubeconfig), "namespace": "hub"}
                                          for i in range(CLUSTERS)],
                                gpu_budgets={"default": 8, "groups": {"big": 64}})
        registry = ClusterRegistry(federation)
    fold_ns = []
    for i, member in enumerate(registry.members.values()):
        inventory = ClusterInventory(member, hub_api=None)
        for j in range(args.pods):
            pod = gpu_pod(rng, i * args.pods + j, "hub")
            _, took = timed(inventory._note_holding, f"hub/{pod['metadata']['name']}", pod)
            fold_ns.append(took)
        registry.inventories[member.name] = inventory
    checks, refused = [], 0
    for _ in range(args.checks):
        user, groups = f"user{rng.randrange(USERS)}", frozenset(rng.choice([(), ("big",)]))
        answer, took = timed(registry.over_budget, user, groups, rng.choice([1, 2, 8]), "this server")
        checks.append(took)
        refused += answer is not None
    snapshot, _ = build(random.Random(args.seed))
    request = PlacementRequest(gpu_type="nvidia-a100-40gb", gpu_count=2, cpu_milli=4000, memory_bytes=16 * 2**30)
    decisions = [timed(place, request, snapshot, now=NOW)[1] for _ in range(args.checks)]
    check, decision = percentiles(checks), percentiles(decisions)
    view = registry.budget("user1", frozenset())
    print(json.dumps({
        "benchmark": "gpu_budgets", "clusters": CLUSTERS, "gpu_pods": CLUSTERS * args.pods, "users": USERS,
        "budget_check": check, "refused_share": round(refused / args.checks, 3),
        "baseline_place_decision": decision,
        "check_over_place": {"p50": round(check["p50_us"] / decision["p50_us"], 2),
                             "p99": round(check["p99_us"] / decision["p99_us"], 2)},
        "fold_one_pod_event": percentiles(fold_ns),
        "example_view": {"summary": view["summary"], "holdings": len(view["holdings"])},
    }, indent=2))


if __name__ == "__main__":
    main()
