"""Sandbox benchmark: build time, `sandbox up` time, memory per cluster, pod start.

Prints one JSON document. Absolute times on a shared machine are noise, so each
figure comes with a baseline measured in the same run:

- ``up_3_clusters_s`` vs ``up_1_cluster_s`` (ratio: how well start-up parallelises);
- ``agent_pod_start`` (created -> Running through the node agent, which really
  starts a process) vs ``kwok_pod_start`` (the same control plane with kwok, which
  only flips the status): the ratio is the node agent's own cost.

Usage: python benchmarks/sandbox_bench.py [--cold-build] [--pods 30] [--rounds 3]
``--cold-build`` also times a build from empty Go caches (downloads included, ~10 min).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kubernetes_asyncio import client, config, watch

from fedspawner.sandbox import processes
from fedspawner.sandbox.binaries import ensure_binaries, sources_dir
from fedspawner.sandbox.manager import Sandbox

STATE = Path(tempfile.gettempdir()) / "fedspawner-bench"
BASE_PORT = 18400
KWOK_TOPOLOGY = """
namespace: fedspawner
clusters:
  - name: sim
    node_groups:
      - {name: sim, count: 5, runtime: kwok, cpu: "64", memory: 256Gi}
"""


def cold_build_seconds() -> float:
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, FEDSPAWNER_CACHE=f"{tmp}/cache", GOCACHE=f"{tmp}/gocache",
                   GOMODCACHE=f"{tmp}/gomod", GOFLAGS="-mod=mod")
        start = time.monotonic()
        subprocess.run([sys.executable, "-c", "from fedspawner.sandbox.binaries import ensure_binaries as e; e()"],
                       env=env, check=True)
        elapsed = time.monotonic() - start
        subprocess.run(["chmod", "-R", "u+w", tmp])  # the module cache is read-only
    return elapsed


def timed_up(box: Sandbox, topology: Path, clusters: int | None) -> float:
    start = time.monotonic()
    box.up(topology, clusters=clusters, base_port=BASE_PORT)
    return time.monotonic() - start


def rss_mib_per_cluster(box: Sandbox) -> dict[str, float]:
    out: dict[str, float] = {}
    for p in box.read_state()["processes"]:
        try:
            rss_kib = int(next(line.split()[1] for line in Path(f"/proc/{p['pid']}/status").read_text().splitlines()
                               if line.startswith("VmRSS:")))
        except (FileNotFoundError, StopIteration):
            continue
        out[p["cluster"]] = out.get(p["cluster"], 0) + rss_kib / 1024
    return {k: round(v, 1) for k, v in out.items()}


async def pod_start_latencies(kubeconfig: Path, context: str, count: int) -> list[float]:
    """Create pods one at a time; time from create call to the watch seeing Running."""
    api = await config.new_client_from_config(str(kubeconfig), context=context)
    core = client.CoreV1Api(api)
    ns = "fedspawner"
    latencies = []
    try:
        for i in range(count):
            name = f"bench-{i}"
            listing = await core.list_namespaced_pod(ns, limit=1)
            body = {"metadata": {"name": name}, "spec": {"terminationGracePeriodSeconds": 1, "containers": [
                {"name": "main", "image": "python:3.11-slim", "command": ["sleep", "60"]}]}}
            start = time.monotonic()
            await core.create_namespaced_pod(ns, body)
            async with watch.Watch().stream(core.list_namespaced_pod, ns, field_selector=f"metadata.name={name}",
                                            resource_version=listing.metadata.resource_version,
                                            timeout_seconds=30) as stream:
                async for event in stream:
                    if event["object"].status.phase == "Running":
                        latencies.append(time.monotonic() - start)
                        break
            await core.delete_namespaced_pod(name, ns, grace_period_seconds=0)
    finally:
        await api.close()
    return latencies


def summary(values: list[float]) -> dict:
    ordered = sorted(values)
    return {"n": len(values), "p50_ms": round(1000 * statistics.median(ordered), 1),
            "p95_ms": round(1000 * ordered[max(0, int(0.95 * len(ordered)) - 1)], 1),
            "max_ms": round(1000 * ordered[-1], 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cold-build", action="store_true")
    parser.add_argument("--pods", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    result: dict = {}
    if args.cold_build:
        result["cold_build_s"] = round(cold_build_seconds(), 1)
    ensure_binaries(log=lambda *_: None)
    default = sources_dir() / "topologies" / "default.yaml"
    box = Sandbox(STATE, log=lambda *_: None)
    box.down()
    one, three = [], []
    for _ in range(args.rounds):
        one.append(timed_up(box, default, 1))
        box.down()
        three.append(timed_up(box, default, None))
        if _ < args.rounds - 1:
            box.down()
    result["up_1_cluster_s"] = round(statistics.median(one), 2)
    result["up_3_clusters_s"] = round(statistics.median(three), 2)
    result["up_3_vs_1_ratio"] = round(result["up_3_clusters_s"] / result["up_1_cluster_s"], 2)
    time.sleep(5)  # let start-up allocations settle
    result["rss_mib_per_cluster"] = rss_mib_per_cluster(box)
    agent = asyncio.run(pod_start_latencies(box.kubeconfig, "onprem", args.pods))
    box.down()
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(KWOK_TOPOLOGY)
    box.up(Path(f.name), base_port=BASE_PORT)
    kwok = asyncio.run(pod_start_latencies(box.kubeconfig, "sim", args.pods))
    box.down()
    os.unlink(f.name)
    result["agent_pod_start"] = summary(agent)
    result["kwok_pod_start"] = summary(kwok)
    result["agent_vs_kwok_p50_ratio"] = round(statistics.median(agent) / statistics.median(kwok), 2)
    result["goals"] = {"up_3_clusters_s<=30": result["up_3_clusters_s"] <= 30,
                       "agent_pod_start_p95_ms<=1000": result["agent_pod_start"]["p95_ms"] <= 1000}
    assert not processes.marked_processes(STATE)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
