"""Spawner benchmarks on the sandbox: spawn overhead, failover time, availability freshness.

Prints one JSON document; every figure is compared with a baseline measured in the
same run, because absolute times on a shared machine are noise:

- ``spawn_overhead``: time from ``start()`` to a Running pod for FederatedKubeSpawner
  and for plain KubeSpawner on the same cluster, interleaved, N each; ratio of means
  (goal ≤ 1.10).
- ``failover``: the preferred cluster rejects the pod (namespace quota) and the server
  runs on the next one; compared with a direct start on that next cluster (goal: the
  whole failed-over start ≤ 5 s).
- ``freshness``: a pod taking a GPU is created on a member cluster; how long until the
  availability endpoint of a real hub shows fewer free GPUs, vs. a raw Kubernetes watch
  seeing the same pod (goal ≤ 1 s).

Usage: python benchmarks/spawn_bench.py [--spawns 50]
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

STATE = Path(tempfile.gettempdir()) / "fedspawner-bench-spawn"
# Plain KubeSpawner reads the process-global kube config, whose default location the
# client library fixes at import time: point it at a file this script writes.
PLAIN_KUBECONFIG = STATE / "plain.kubeconfig"
os.environ["KUBECONFIG"] = str(PLAIN_KUBECONFIG)

import argparse  # noqa: E402 - after the KUBECONFIG set-up above
import asyncio
import json
import statistics
import threading
import time
import urllib.request

import yaml
from kubernetes_asyncio import client, config as kube_config, watch
from traitlets.config import Config

from fedspawner.demo.runner import prepare_hub
from fedspawner.federation.registry import ClusterRegistry
from fedspawner.sandbox.federation import member_clusters
from fedspawner.sandbox.manager import Sandbox
from fedspawner.spawner.spawner import FederatedKubeSpawner
from fedspawner.spawner.standalone import make_spawner
from kubespawner import KubeSpawner

BASE_PORT = 18600
HUB_PORT = 18300
NS = "fedspawner"


def spawner_config(sandbox_dir: Path) -> Config:
    c = Config()
    c.Federation.clusters = member_clusters(sandbox_dir)
    for entry in c.Federation.clusters:
        if entry["name"] == "regional":
            entry["labels"] = {"data": "near"}
    c.KubeSpawner.namespace = NS
    c.KubeSpawner.image = "python:3.11-slim"
    c.KubeSpawner.cmd = ["sleep", "600"]
    c.KubeSpawner.events_enabled = True
    c.KubeSpawner.start_timeout = 60
    c.KubeSpawner.profile_list = [{"display_name": "near", "slug": "near", "default": True,
                                   "clusters": {"locality": {"data": "near"}}}]
    return c


async def timed_start(spawner) -> float:
    started = time.monotonic()
    await spawner.start()
    elapsed = time.monotonic() - started
    await spawner.stop(now=True)
    return elapsed


async def spawn_overhead(c: Config, kubeconfig: Path, n: int) -> dict:
    # Plain KubeSpawner: the onprem cluster with the same namespace-scoped credential.
    single = yaml.safe_load(kubeconfig.read_text())
    single["current-context"] = "onprem"
    PLAIN_KUBECONFIG.write_text(yaml.safe_dump(single))
    federated_times, plain_times = [], []
    # Warm-up (first client connections, the federation's first inventory load).
    await timed_start(make_spawner(KubeSpawner, c, "plain-warm"))
    await timed_start(make_spawner(FederatedKubeSpawner, c, "fed-warm", {"cluster": "onprem", "profile": "near"}))
    for i in range(n):
        plain = make_spawner(KubeSpawner, c, f"plain-{i}")
        federated = make_spawner(FederatedKubeSpawner, c, f"fed-{i}", {"cluster": "onprem", "profile": "near"})
        plain_times.append(await timed_start(plain))
        federated_times.append(await timed_start(federated))
    await KubeSpawner._stop_all_reflectors()
    await FederatedKubeSpawner._stop_all_reflectors()
    await ClusterRegistry.reset_shared()
    return {"n": n, "federated_mean_s": round(statistics.mean(federated_times), 3),
            "plain_mean_s": round(statistics.mean(plain_times), 3),
            "federated_p50_s": round(statistics.median(federated_times), 3),
            "plain_p50_s": round(statistics.median(plain_times), 3),
            "ratio_mean": round(statistics.mean(federated_times) / statistics.mean(plain_times), 3),
            "goal_ratio": 1.10}


async def failover(c: Config, rounds: int = 5) -> dict:
    registry = ClusterRegistry.shared(c)
    await registry.start()
    await registry.wait_ready()
    core = client.CoreV1Api(registry.api("regional"))
    direct, failed_over, landed = [], [], set()
    for i in range(rounds):
        # Baseline: straight onto the cluster the failover ends on.
        spawner = make_spawner(FederatedKubeSpawner, c, f"direct-{i}", {"cluster": "onprem"})
        direct.append(await timed_start(spawner))
    await core.create_namespaced_resource_quota(NS, {"metadata": {"name": "bench-no-pods"},
                                                     "spec": {"hard": {"pods": "0"}}})
    try:
        await asyncio.sleep(1)
        for i in range(rounds):
            spawner = make_spawner(FederatedKubeSpawner, c, f"failover-{i}", {"profile": "near"})
            started = time.monotonic()
            await spawner.start()
            failed_over.append(time.monotonic() - started)
            landed.add(spawner.cluster_name)
            await spawner.stop(now=True)
    finally:
        await core.delete_namespaced_resource_quota("bench-no-pods", NS)
    await FederatedKubeSpawner._stop_all_reflectors()
    await ClusterRegistry.reset_shared()
    return {"rounds": rounds, "failover_mean_s": round(statistics.mean(failed_over), 3),
            "failover_max_s": round(max(failed_over), 3), "direct_mean_s": round(statistics.mean(direct), 3),
            "added_by_failover_s": round(statistics.mean(failed_over) - statistics.mean(direct), 3),
            "landed_on": sorted(landed), "goal_s": 5.0}


def availability_watch(url: str, token: str, gpu_type: str, seen: dict, stop: threading.Event) -> None:
    """Long-poll the hub's availability endpoint; record when the free count changes."""
    version, baseline_free = -1, None
    while not stop.is_set():
        req = urllib.request.Request(f"{url}?since={version}&wait=5", headers={"Authorization": f"token {token}"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            payload = json.loads(resp.read())
        version = payload["version"]
        burst = next(c for c in payload["clusters"] if c["name"] == "burst")
        free = next((g["free"] for g in burst["gpus"] if g["type"] == gpu_type), None)
        if free is None:
            continue  # inventory still loading
        if baseline_free is None:
            baseline_free = free
            seen["ready"].set()
        elif free < baseline_free and "changed" not in seen:
            seen["changed"] = time.monotonic()
            return


async def freshness(sandbox_dir: Path, kubeconfig: Path, rounds: int = 5) -> dict:
    extra = ('c.JupyterHub.services = [{"name": "bench", "api_token": "bench-token-123456789"}]\n'
             'c.JupyterHub.load_roles = [{"name": "bench-role", "scopes": ["read:users"], "services": ["bench"]}]\n')
    hub = prepare_hub(STATE / "hub", sandbox_dir, port=HUB_PORT, extra_config=extra, log=lambda *_: None)
    hub.start()
    endpoint = f"{hub.url}/hub/api/fedspawner/availability"
    api = await kube_config.new_client_from_config(str(kubeconfig), context="burst-admin")
    core = client.CoreV1Api(api)
    endpoint_delays, watch_delays = [], []
    try:
        for i in range(rounds):
            seen = {"ready": threading.Event()}
            stop = threading.Event()
            poller = threading.Thread(target=availability_watch,
                                      args=(endpoint, "bench-token-123456789", "nvidia-h100-80gb", seen, stop))
            poller.start()
            seen["ready"].wait(30)
            listing = await core.list_namespaced_pod("research", limit=1)
            name = f"fresh-{i}"
            body = {"metadata": {"name": name}, "spec": {
                "terminationGracePeriodSeconds": 1,
                "nodeSelector": {"cloud.google.com/gke-accelerator": "nvidia-h100-80gb"},
                "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists"}], "containers": [{
                    "name": "main", "image": "python:3.11-slim", "command": ["sleep", "60"],
                    "resources": {"limits": {"nvidia.com/gpu": "1"}}}]}}
            created = time.monotonic()
            await core.create_namespaced_pod("research", body)
            async with watch.Watch().stream(core.list_namespaced_pod, "research",
                                            resource_version=listing.metadata.resource_version,
                                            field_selector=f"metadata.name={name}", timeout_seconds=30) as s:
                async for event in s:
                    if event["object"].spec.node_name:
                        watch_delays.append(time.monotonic() - created)
                        break
            poller.join(30)
            stop.set()
            endpoint_delays.append(seen.get("changed", float("inf")) - created)
            await core.delete_namespaced_pod(name, "research", grace_period_seconds=0)
            await asyncio.sleep(1)
    finally:
        await api.close()
        hub.stop()
    return {"rounds": rounds, "endpoint_mean_ms": round(1000 * statistics.mean(endpoint_delays), 1),
            "endpoint_max_ms": round(1000 * max(endpoint_delays), 1),
            "raw_watch_mean_ms": round(1000 * statistics.mean(watch_delays), 1),
            "ratio": round(statistics.mean(endpoint_delays) / statistics.mean(watch_delays), 2),
            "goal_ms": 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spawns", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    box = Sandbox(STATE / "sandbox", log=lambda *_: None)
    box.down()
    box.up(base_port=BASE_PORT)
    try:
        c = spawner_config(box.dir)
        result = {
            "spawn_overhead": asyncio.run(spawn_overhead(c, box.kubeconfig, args.spawns)),
        }
        ClusterRegistry._instance = None
        result["failover"] = asyncio.run(failover(c, args.rounds))
        ClusterRegistry._instance = None
        result["freshness"] = asyncio.run(freshness(box.dir, box.kubeconfig, args.rounds))
        result["goals_met"] = {
            "spawn_overhead_ratio<=1.10": result["spawn_overhead"]["ratio_mean"] <= 1.10,
            "failover_max_s<=5": result["failover"]["failover_max_s"] <= 5,
            "freshness_max_ms<=1000": result["freshness"]["endpoint_max_ms"] <= 1000}
    finally:
        box.down()
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
