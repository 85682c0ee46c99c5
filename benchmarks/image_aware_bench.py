"""Image-aware placement and CPU-only work off GPU nodes: what they change, what they cost.

1. **Placement quality** (pure, the placement benchmark's 10 clusters × 5,000 synthetic nodes built
   with the inventory's own aggregation). Each node holds a few images from a pool (popular images
   on many nodes); CPU-only and GPU requests name an image. For the same requests, the baseline is
   placement as it was (no image, no CPU-only frontier in the snapshot): share of decisions whose
   first candidate already holds the image, and share of CPU-only decisions whose first candidate
   has room on nodes without GPUs.
2. **Decision cost**: thread CPU time per ``place`` with the new fields vs the baseline snapshot.
3. **The real scheduler** (``--sandbox DIR``, a running sandbox): CPU-only pods created on onprem
   (A100 and MI210 nodes, CPU nodes) with the spawner's preferred node affinity vs without it,
   through the admin credential in the ``research`` namespace: share landing on GPU nodes.

Prints one JSON document.
Usage: python benchmarks/image_aware_bench.py [--decisions 4000] [--sandbox /tmp/fs-5/sandbox] [--pods 12]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import random
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from placement_bench import NOW, build, make_requests, percentiles, timed  # noqa: E402

from fedspawner.federation.aggregate import cpu_memory_frontier  # noqa: E402
from fedspawner.federation.images import image_key  # noqa: E402
from fedspawner.federation.placement import place  # noqa: E402

POOL = [f"registry.example.org/research/img-{i}:v1" for i in range(40)]


def with_images(snapshot, nodes_by, rng: random.Random):
    """The snapshot with images per cluster (popular images on more clusters) and CPU-only frontiers."""
    clusters = []
    for cluster in snapshot.clusters:
        nodes = nodes_by[cluster.name]
        held = frozenset(image_key(img) for i, img in enumerate(POOL) if rng.random() < 0.6 / (1 + i / 8))
        visible = cluster.visibility == "nodes"
        cpu_only = cpu_memory_frontier((n[3], n[4]) for n in nodes if n[5] and not n[0]) if visible else None
        clusters.append(dataclasses.replace(cluster, images=held if visible else frozenset(),
                                            recent_images=frozenset() if visible else held,
                                            cpu_only_free=cpu_only))
    return dataclasses.replace(snapshot, clusters=tuple(clusters))


def quality(requests, snapshot, baseline_snapshot) -> dict:
    hits = {"with": 0, "baseline": 0}
    cpu_off_gpu = {"with": 0, "baseline": 0}
    decided = cpu_decided = 0
    costs = {"with": [], "baseline": []}
    for kind, request in requests:
        plain = dataclasses.replace(request, image=None)
        new, t_new = timed(place, request, snapshot, now=NOW)
        old, t_old = timed(place, plain, baseline_snapshot, now=NOW)
        costs["with"].append(t_new)
        costs["baseline"].append(t_old)
        if not new.candidates or not old.candidates:
            continue
        decided += 1
        for label, decision in (("with", new), ("baseline", old)):
            top = snapshot.cluster(decision.candidates[0].cluster)
            hits[label] += request.image in top.images or request.image in top.recent_images
            if kind == "cpu":
                nodes = top.cpu_only_free
                cpu_off_gpu[label] += bool(nodes) and any(
                    c >= request.cpu_milli and m >= request.memory_bytes for c, m in nodes)
        cpu_decided += kind == "cpu"
    p_new, p_old = percentiles(costs["with"]), percentiles(costs["baseline"])
    return {
        "decisions": decided,
        "first_choice_holds_image": {"with": round(hits["with"] / decided, 3),
                                     "baseline": round(hits["baseline"] / decided, 3),
                                     "ratio": round(hits["with"] / max(hits["baseline"], 1), 2)},
        "cpu_first_choice_has_room_off_gpu_nodes": {
            "cpu_decisions": cpu_decided, "with": round(cpu_off_gpu["with"] / max(cpu_decided, 1), 3),
            "baseline": round(cpu_off_gpu["baseline"] / max(cpu_decided, 1), 3)},
        "decision_cost": {"with": p_new, "baseline": p_old,
                          "p50_ratio": round(p_new["p50_us"] / p_old["p50_us"], 2),
                          "p99_ratio": round(p_new["p99_us"] / p_old["p99_us"], 2)},
    }


async def real_scheduler(state_dir: Path, pods: int) -> dict:
    from kubernetes_asyncio import client
    from traitlets.config import Config

    from fedspawner.federation.config import Federation
    from fedspawner.federation.registry import ClusterRegistry
    from fedspawner.sandbox.federation import member_clusters
    from fedspawner.sandbox.manager import Sandbox

    c = Config()
    c.Federation.clusters = member_clusters(state_dir)
    registry = ClusterRegistry(Federation(config=c))
    await registry.start()
    await registry.wait_ready()
    avoid = registry.inventories["onprem"].avoid_gpu_nodes()
    await registry.stop()
    kubeconfig = str(Sandbox(state_dir, log=lambda *_: None).kubeconfig)
    from kubernetes_asyncio.config import new_client_from_config
    api = await new_client_from_config(config_file=kubeconfig, context="onprem-admin")
    core = client.CoreV1Api(api)
    nodes = {n.metadata.name: bool(n.metadata.labels.get("nvidia.com/gpu.product")
                                   or n.metadata.labels.get("amd.com/gpu.product-name"))
             for n in (await core.list_node()).items}
    out = {}
    try:
        for label, affinity in (("baseline", None), ("with", avoid)):
            names = []
            for _ in range(pods):
                name = f"bench-cpu-{uuid.uuid4().hex[:6]}"
                spec = {"containers": [{"name": "main", "image": "python:3.11-slim", "command": ["sleep", "60"],
                                        "resources": {"requests": {"cpu": "500m", "memory": "256Mi"}}}],
                        "terminationGracePeriodSeconds": 0}
                if affinity:
                    spec["affinity"] = {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [affinity]}}
                await core.create_namespaced_pod("research", {"metadata": {"name": name}, "spec": spec})
                names.append(name)
            placed = []
            for _ in range(200):
                placed = [(await core.read_namespaced_pod(n, "research")).spec.node_name for n in names]
                if all(placed):
                    break
                await asyncio.sleep(0.05)
            on_gpu = sum(nodes.get(n, False) for n in placed)
            out[label] = {"pods": pods, "on_gpu_nodes": on_gpu, "share_on_gpu_nodes": round(on_gpu / pods, 3)}
            for n in names:
                await core.delete_namespaced_pod(n, "research", grace_period_seconds=0)
    finally:
        await api.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--sandbox", type=Path, help="state dir of a running sandbox, for the scheduler figure")
    parser.add_argument("--pods", type=int, default=12, help="CPU pods per scheduler round")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    baseline_snapshot, nodes_by = build(rng)
    snapshot = with_images(baseline_snapshot, nodes_by, rng)
    requests = [(kind, dataclasses.replace(r, image=image_key(rng.choice(POOL))))
                for kind, r in make_requests(rng, args.decisions)]
    result = {"benchmark": "image_aware", "placement": quality(requests, snapshot, baseline_snapshot)}
    if args.sandbox:
        result["scheduler_onprem"] = asyncio.run(real_scheduler(args.sandbox, args.pods))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
