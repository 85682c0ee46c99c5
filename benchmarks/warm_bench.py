"""Warm GPU slots on the sandbox: spawn-to-Ready of an A100 server on a cluster whose other
A100s are all taken by another tenant, with a warm slot, vs the same spawn on the idle
cluster (baseline, same run), and what happens without a slot.

What a warm slot saves here is capacity, not start-up time: the sandbox has no node
autoscaler and pulls no images, so the figure to expect is a ratio near 1 (the hand-over
costs one pod deletion) and a spawn that, without the slot, does not get a GPU at all.
On a real cluster the same slot also saves a scale-up (minutes) when the GPU pool was
otherwise empty.

Usage: python benchmarks/warm_bench.py [--rounds 3] [--sandbox-dir DIR]
(without --sandbox-dir it brings up its own sandbox on FEDSPAWNER_BENCH_BASE_PORT, default 26600).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from kubernetes_asyncio import client, config as kube_config
from traitlets.config import Config

from fedspawner.federation.registry import ClusterRegistry
from fedspawner.federation.warm import WARM_LABEL
from fedspawner.sandbox.federation import member_clusters
from fedspawner.sandbox.manager import Sandbox
from fedspawner.spawner.spawner import FederatedKubeSpawner
from fedspawner.spawner.standalone import make_spawner

STATE = Path(tempfile.gettempdir()) / "fedspawner-bench-warm"
NS, A100, CLUSTER, A100_GPUS = "fedspawner", "nvidia-a100-40gb", "onprem", 8
OPTIONS = {"cluster": CLUSTER, "gpu_type": A100, "gpu_count": 1}


def spawner_config(sandbox_dir: Path, slots: list) -> Config:
    c = Config()
    c.Federation.clusters = member_clusters(sandbox_dir)
    c.Federation.warm_slots = slots
    c.KubeSpawner.image = "python:3.11-slim"
    c.KubeSpawner.cmd = ["sleep", "600"]
    c.KubeSpawner.events_enabled = True
    c.KubeSpawner.start_timeout = 30
    return c


async def wait(check, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError("sandbox did not settle")
        await asyncio.sleep(0.1)


async def tenants(core, count: int) -> list[str]:
    names = [f"bench-tenant-{i}" for i in range(count)]
    for name in names:
        await core.create_namespaced_pod("research", {"metadata": {"name": name}, "spec": {
            "terminationGracePeriodSeconds": 0,
            "nodeSelector": {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-40GB"},
            "containers": [{"name": "main", "image": "python:3.11-slim", "command": ["sleep", "600"],
                            "resources": {"limits": {"nvidia.com/gpu": "1"}}}]}})

    async def running():
        pods = [await core.read_namespaced_pod(n, "research") for n in names]
        return all(p.status.phase == "Running" for p in pods)
    await wait(running)
    return names


async def timed(c: Config, name: str) -> tuple[float | None, str]:
    spawner = make_spawner(FederatedKubeSpawner, c, name, OPTIONS)
    started = time.monotonic()
    try:
        await spawner.start()
    except Exception as err:  # noqa: BLE001 - the no-slot case is expected to fail
        return None, str(err).splitlines()[1] if "\n" in str(err) else str(err)
    elapsed = time.monotonic() - started
    await spawner.stop(now=True)
    return elapsed, "warm slot handed over" if any("warm" in m for m in spawner._narration) else "no slot"


async def phase(c: Config, rounds: int, prefix: str, core, busy: int, slot: bool) -> dict:
    ClusterRegistry._instance = None
    registry = ClusterRegistry.shared(c)
    await registry.start()
    await registry.wait_ready()
    names = await tenants(core, busy) if busy else []
    times, outcomes = [], set()
    try:
        for i in range(rounds + 1):  # the first start of a phase warms up reflectors and connections
            if slot:
                async def warm_ready():
                    return registry.warm.counts(CLUSTER).get(A100, {}).get("warm", 0) >= 1
                await wait(warm_ready)
            await asyncio.sleep(1)  # the inventory sees the cluster as it is now
            elapsed, outcome = await timed(c, f"{prefix}-{i}")
            if i == 0:
                continue
            outcomes.add(outcome)
            if elapsed is not None:
                times.append(elapsed)
    finally:
        await registry.warm.stop()
        for pod in (await core.list_namespaced_pod(NS, label_selector=WARM_LABEL)).items:
            await core.delete_namespaced_pod(pod.metadata.name, NS, grace_period_seconds=0)
        for name in names:
            await core.delete_namespaced_pod(name, "research", grace_period_seconds=0)
        await FederatedKubeSpawner._stop_all_reflectors()
        await ClusterRegistry.reset_shared()
        await asyncio.sleep(2)
    return {"started": len(times), "of": rounds, "mean_s": round(statistics.mean(times), 3) if times else None,
            "outcomes": sorted(outcomes)}


async def run(box: Sandbox, rounds: int) -> dict:
    api = await kube_config.new_client_from_config(str(box.kubeconfig), context=f"{CLUSTER}-admin")
    core = client.CoreV1Api(api)
    try:
        idle = await phase(spawner_config(box.dir, []), rounds, "idle", core, 0, False)
        slots = [{"cluster": CLUSTER, "gpu": A100, "count": 1}]
        warm = await phase(spawner_config(box.dir, slots), rounds, "warm", core, A100_GPUS - 1, True)
        cold = await phase(spawner_config(box.dir, []), rounds, "cold", core, A100_GPUS, False)
    finally:
        await api.close()
    return {"idle_cluster_baseline": idle, "full_cluster_with_warm_slot": warm, "full_cluster_without_slot": cold,
            "ratio_warm_to_idle": round(warm["mean_s"] / idle["mean_s"], 3) if warm["mean_s"] else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sandbox-dir", type=Path, help="use this running sandbox instead of bringing one up")
    args = parser.parse_args()
    own = args.sandbox_dir is None
    box = Sandbox(STATE / "sandbox" if own else args.sandbox_dir, log=lambda *_: None)
    if own:
        box.down()
        box.up(base_port=int(os.environ.get("FEDSPAWNER_BENCH_BASE_PORT", "26600")))
    try:
        result = asyncio.run(run(box, args.rounds))
    finally:
        if own:
            box.down()
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
