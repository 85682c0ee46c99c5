"""Hedged starts vs serial failover on the sandbox: time to a Ready server when the first
choice is slow or full, and time-to-notebook prediction error against the same starts.

Two situations, each measured both ways in the same run (ratio hedged / serial):

- ``slow``: the first-choice cluster's node agent starts no pod for ``--delay`` seconds
  (SIGSTOP, then SIGCONT; what a node slow to pull an image looks like from the hub);
- ``full``: the first-choice cluster's namespace quota allows no pod (the serial start
  fails over on the rejection; the hedged one races it).

``prediction`` compares, for every start of the run on a cluster, the time-to-notebook
the hub predicted just before it (``federation.predict``, from the starts before) with the
start's actual duration: mean absolute error, and the same for the naive baseline that
always predicts the run's first start.

Usage: python benchmarks/hedge_bench.py [--rounds 3] [--delay 8] [--sandbox-dir DIR]
(without --sandbox-dir it brings up its own sandbox on FEDSPAWNER_BENCH_BASE_PORT, default 26600).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import tempfile
import time
from pathlib import Path

from kubernetes_asyncio import client
from traitlets.config import Config

from fedspawner.federation import predict
from fedspawner.federation.registry import ClusterRegistry
from fedspawner.sandbox.federation import member_clusters
from fedspawner.sandbox.manager import Sandbox
from fedspawner.spawner.spawner import FederatedKubeSpawner
from fedspawner.spawner.standalone import make_spawner

STATE = Path(tempfile.gettempdir()) / "fedspawner-bench-hedge"
NS = "fedspawner"
FIRST, SECOND = "onprem", "burst"


def spawner_config(sandbox_dir: Path, hedge: bool) -> Config:
    c = Config()
    c.Federation.clusters = member_clusters(sandbox_dir)
    c.KubeSpawner.namespace = NS
    c.KubeSpawner.image = "python:3.11-slim"
    c.KubeSpawner.cmd = ["sleep", "600"]
    c.KubeSpawner.events_enabled = True
    c.KubeSpawner.start_timeout = 90
    c.KubeSpawner.profile_list = [{"display_name": "race", "slug": "race", "default": True, "hedge": hedge,
                                   "clusters": {"preferred": [FIRST, SECOND]},
                                   "kubespawner_override": {"cpu_guarantee": 0.1}}]
    return c


def agent_pid(box: Sandbox, cluster: str) -> int:
    return next(p["pid"] for p in box.read_state()["processes"]
                if p["cluster"] == cluster and p["component"] == "node-agent")


async def one_start(c: Config, name: str) -> tuple[float, str]:
    spawner = make_spawner(FederatedKubeSpawner, c, name, {"profile": "race"})
    started = time.monotonic()
    await spawner.start()
    elapsed = time.monotonic() - started
    landed = spawner.cluster_name
    await spawner.stop(now=True)
    return elapsed, landed


async def slow(box: Sandbox, c: Config, name: str, delay: float) -> tuple[float, str]:
    pid = agent_pid(box, FIRST)
    os.kill(pid, signal.SIGSTOP)
    loop = asyncio.get_running_loop()
    handle = loop.call_later(delay, os.kill, pid, signal.SIGCONT)
    try:
        return await one_start(c, name)
    finally:
        handle.cancel()
        os.kill(pid, signal.SIGCONT)


async def full(box: Sandbox, c: Config, name: str, delay: float) -> tuple[float, str]:
    core = client.CoreV1Api(ClusterRegistry.shared(c).api(FIRST))
    await core.create_namespaced_resource_quota(NS, {"metadata": {"name": "bench-full"},
                                                     "spec": {"hard": {"pods": "0"}}})
    try:
        await asyncio.sleep(0.5)
        return await one_start(c, name)
    finally:
        await core.delete_namespaced_resource_quota("bench-full", NS)


def summary(times: list[float], landed: set[str]) -> dict:
    return {"mean_s": round(statistics.mean(times), 3), "max_s": round(max(times), 3), "landed_on": sorted(landed)}


async def situation(box: Sandbox, kind, rounds: int, delay: float) -> dict:
    out = {}
    for hedge in (False, True):
        c = spawner_config(box.dir, hedge)
        ClusterRegistry._instance = None
        registry = ClusterRegistry.shared(c)
        await registry.start()
        await registry.wait_ready()
        times, landed = [], set()
        for i in range(rounds):
            elapsed, where = await kind(box, c, f"{kind.__name__}-{'h' if hedge else 's'}-{i}", delay)
            times.append(elapsed)
            landed.add(where)
            await asyncio.sleep(1)
        await FederatedKubeSpawner._stop_all_reflectors()
        await ClusterRegistry.reset_shared()
        out["hedged" if hedge else "serial"] = summary(times, landed)
    out["ratio_hedged_to_serial"] = round(out["hedged"]["mean_s"] / out["serial"]["mean_s"], 3)
    return out


async def prediction(box: Sandbox, rounds: int) -> dict:
    """Predict, then start, on each cluster in turn (no hedging); error vs the actual start."""
    c = spawner_config(box.dir, False)
    ClusterRegistry._instance = None
    registry = ClusterRegistry.shared(c)
    await registry.start()
    await registry.wait_ready()
    history = predict.HISTORY
    history.clear()
    errors, naive_errors, blind_errors, first, every = [], [], [], {}, []
    for i in range(rounds * 2):
        for cluster in (FIRST, SECOND):
            guess = history.predict(cluster, None, "python:3.11-slim").seconds
            spawner = make_spawner(FederatedKubeSpawner, c, f"predict-{cluster}-{i}", {"cluster": cluster})
            started = time.monotonic()
            await spawner.start()
            actual = time.monotonic() - started
            await spawner.stop(now=True)
            if guess is not None and cluster in first:  # history includes the run's earlier starts
                errors.append(abs(guess - actual))
                naive_errors.append(abs(first[cluster] - actual))
                blind_errors.append(abs(statistics.mean(every) - actual))
            first.setdefault(cluster, actual)
            every.append(actual)
    await FederatedKubeSpawner._stop_all_reflectors()
    await ClusterRegistry.reset_shared()
    mae, naive = statistics.mean(errors), statistics.mean(naive_errors)
    return {"predictions": len(errors), "mean_abs_error_s": round(mae, 3),
            "max_abs_error_s": round(max(errors), 3), "naive_first_start_mean_abs_error_s": round(naive, 3),
            "ratio_to_naive": round(mae / naive, 3) if naive else None,
            "cluster_blind_mean_abs_error_s": round(statistics.mean(blind_errors), 3),
            "ratio_to_cluster_blind": round(mae / statistics.mean(blind_errors), 3)}


async def run(box: Sandbox, rounds: int, delay: float, parts: list[str]) -> dict:
    out = {}
    if "slow" in parts:
        out["slow_first_choice"] = {"delay_s": delay, **await situation(box, slow, rounds, delay)}
    if "full" in parts:
        out["full_first_choice"] = await situation(box, full, rounds, delay)
    if "prediction" in parts:
        out["prediction"] = await prediction(box, rounds)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--delay", type=float, default=8.0)
    parser.add_argument("--parts", default="slow,full,prediction", help="comma-separated parts to run")
    parser.add_argument("--sandbox-dir", type=Path, help="use this running sandbox instead of bringing one up")
    args = parser.parse_args()
    own = args.sandbox_dir is None
    box = Sandbox(STATE / "sandbox" if own else args.sandbox_dir, log=lambda *_: None)
    if own:
        box.down()
        box.up(base_port=int(os.environ.get("FEDSPAWNER_BENCH_BASE_PORT", "26600")))
    try:
        result = asyncio.run(run(box, args.rounds, args.delay, args.parts.split(",")))
    finally:
        if own:
            box.down()
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
