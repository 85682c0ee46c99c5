"""Queue-aware placement by fedspawner vs MultiKueue dispatching, on the same sandbox (issue 16).

The sandbox (generated topology, every node simulated by kwok, so 100 pods cost nothing; kwok
completes Job pods at once): three workers ``w1``, ``w2`` (2 × 8 cpu each) and ``w3`` (full: its
node and quota, 50 m cpu, hold none of the workloads), each running Kueue with the queue ``bench``,
and ``mk``, a MultiKueue manager dispatching its queue ``bench`` to all three (set up by
``sandbox up``).

- ``admission``: ``--workloads`` one-pod Jobs (100 m cpu) sent one after the other, once through
  fedspawner's placement (the hub's inventory ranking of the workers, ``registry.place``, then the
  gateway's ``QueueBoard`` ranking, refreshed every 2 s as in the gateway, on the hub's namespace
  credential; each Job created in the chosen worker's queue) and once into ``mk``'s queue for
  MultiKueue to dispatch. Time from the first create to each Workload's Admitted
  condition (MultiKueue: the manager's Workload, admitted once a worker admitted its copy):
  p50/p95/max, admissions per second, and where the workloads went.
- ``lost_cluster``: ``w1``'s queue is held (``stopPolicy: Hold``) with 5 workloads waiting, then
  its apiserver stops (SIGSTOP). fedspawner: time until its health probe marks ``w1`` down, and
  until the waiting workloads, created again on ``w2``, are admitted there. MultiKueue: the
  manager's configured ``workerLostTimeout`` (Kueue's default 15 min), reported, not waited for.

Usage: python benchmarks/kueue_dispatch_bench.py [--workloads 100] [--sandbox-dir DIR]
(without --sandbox-dir it brings up its own sandbox on FEDSPAWNER_BENCH_BASE_PORT, default 27400).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import signal
import statistics
import tempfile
import time
from pathlib import Path

import yaml
from traitlets.config import Config

from fedspawner.federation.model import PlacementRequest
from fedspawner.federation.registry import ClusterRegistry
from fedspawner.gateway import kube
from fedspawner.gateway.queueing import LOCALQUEUES, WORKLOADS, QueueBoard
from fedspawner.federation.queues import QUEUE_LABEL, admitted
from fedspawner.sandbox.bootstrap import admin_api_client
from fedspawner.sandbox.federation import member_clusters
from fedspawner.sandbox.manager import Sandbox

STATE = Path(tempfile.gettempdir()) / "fedspawner-bench-kueue-dispatch"
NS, QUEUE, MANAGER, WORKERS, FULL = "fedspawner", "bench", "mk", ("w1", "w2", "w3"), "w3"
LOST, SPARE, HELD = "w1", "w2", 5


def topology(base_port: int) -> dict:
    def cluster(name: str, count: int, cpu: str, **extra) -> dict:
        return {"name": name, "operators": ["kueue"], **extra, "node_groups": [
            {"name": "sim", "count": count, "runtime": "kwok", "cpu": cpu, "memory": "32Gi"}]}
    return {"namespace": NS, "base_port": base_port, "clusters": [
        cluster(MANAGER, 1, "1", multikueue={"workers": list(WORKERS), "queue": QUEUE}),
        cluster("w1", 2, "8"), cluster("w2", 2, "8"), cluster(FULL, 1, "50m")]}


def job(name: str, cpu: str = "100m", **labels) -> dict:
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "labels": {QUEUE_LABEL: QUEUE, "bench": "kueue-dispatch", **labels}},
            "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never", "containers": [{
                "name": "main", "image": "busybox", "command": ["true"],
                "resources": {"requests": {"cpu": cpu, "memory": "64Mi"}}}]}}}}


class Clusters:
    """Admin clients of the sandbox's clusters (to read Workloads) and the hub's registry (to submit)."""

    def __init__(self, sandbox: Sandbox, registry: ClusterRegistry):
        self.admin = {c.spec.name: admin_api_client(c) for c in sandbox.layouts()}
        self.registry = registry

    async def close(self) -> None:
        for api in self.admin.values():
            await api.close()


async def wait_admitted(cl: Clusters, where: dict[str, str], started: float, timeout: float = 600) -> dict[str, float]:
    """Seconds from ``started`` to each job's admission (``where``: job -> cluster to look on)."""
    seen: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    while len(seen) < len(where) and time.monotonic() < deadline:
        for cluster in sorted(set(where.values())):
            items = await kube.request(cl.admin[cluster], "GET", WORKLOADS.path(NS), timeout=30)
            now = time.monotonic() - started
            for w in items.get("items") or []:
                owner = ((w["metadata"].get("ownerReferences") or [{}])[0]).get("name")
                if owner in where and where[owner] == cluster and owner not in seen and admitted(w):
                    seen[owner] = now
        await asyncio.sleep(0.2)
    return seen


def summary(times: dict[str, float], total: int) -> dict:
    values = sorted(times.values())
    if not values:
        return {"admitted": 0, "of": total}
    return {"admitted": len(values), "of": total, "p50_s": round(statistics.median(values), 2),
            "p95_s": round(values[math.ceil(0.95 * len(values)) - 1], 2), "max_s": round(values[-1], 2),
            "admissions_per_s": round(len(values) / values[-1], 2) if values[-1] else None}


async def fedspawner_run(cl: Clusters, board: QueueBoard, n: int) -> dict:
    hub = {w: cl.registry.api(w) for w in WORKERS}
    request = PlacementRequest(cpu_milli=100, memory_bytes=64 * 2 ** 20)
    where: dict[str, str] = {}
    started = time.monotonic()
    for i in range(n):
        order = [c.cluster for c in cl.registry.place(request).candidates]
        target = board.rank(order, {"cpu": 0.1, "memory": 64.0 * 2 ** 20})[0]
        name = f"fs-{i}"
        await kube.request(hub[target], "POST", kube.JOBS.path(NS), body=job(name), timeout=30)
        where[name] = target
    submitted = time.monotonic() - started
    times = await wait_admitted(cl, where, started)
    return {**summary(times, n), "submit_s": round(submitted, 2),
            "placed": {w: sum(1 for c in where.values() if c == w) for w in WORKERS}}


async def multikueue_run(cl: Clusters, n: int) -> dict:
    where = {f"mk-{i}": MANAGER for i in range(n)}
    started = time.monotonic()
    for name in where:
        await kube.request(cl.admin[MANAGER], "POST", kube.JOBS.path(NS), body=job(name), timeout=30)
    submitted = time.monotonic() - started
    times = await wait_admitted(cl, where, started)
    workloads = (await kube.request(cl.admin[MANAGER], "GET", WORKLOADS.path(NS), timeout=30)).get("items") or []
    placed = [(w.get("status") or {}).get("clusterName") for w in workloads]
    return {**summary(times, n), "submit_s": round(submitted, 2), "placed": {w: placed.count(w) for w in WORKERS}}


async def lost_cluster(cl: Clusters, sandbox: Sandbox, timeout: str) -> dict:
    hub = cl.registry.api(LOST)
    await kube.merge_patch(cl.admin[LOST], LOCALQUEUES, NS, QUEUE, {"spec": {"stopPolicy": "Hold"}})
    names = [f"held-{i}" for i in range(HELD)]
    for name in names:
        await kube.request(hub, "POST", kube.JOBS.path(NS), body=job(name), timeout=30)
    apiserver = next(p for p in sandbox.read_state()["processes"]
                     if p["cluster"] == LOST and p["component"] == "kube-apiserver")
    os.kill(apiserver["pid"], signal.SIGSTOP)  # a process of this benchmark's sandbox
    try:
        lost_at = time.monotonic()
        while cl.registry.inventories[LOST].healthy:
            await asyncio.sleep(0.05)
        detected = time.monotonic() - lost_at
        spare = cl.registry.api(SPARE)
        for name in names:
            await kube.request(spare, "POST", kube.JOBS.path(NS), body=job(f"moved-{name}"), timeout=30)
        times = await wait_admitted(cl, {f"moved-{n}": SPARE for n in names}, lost_at)
    finally:
        os.kill(apiserver["pid"], signal.SIGCONT)
    return {"fedspawner": {"detect_s": round(detected, 2), "moved_and_admitted_s": round(max(times.values()), 2),
                           "moved": len(times), "health_interval_s": cl.registry.federation.health_interval},
            "multikueue": {"worker_lost_timeout": timeout, "worker_lost_timeout_s": seconds(timeout),
                           "note": "configured value of the manager's Kueue (multiKueue.workerLostTimeout), "
                                   "not waited for"}}


def seconds(duration: str) -> float:
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    return sum(float(number) * units[unit] for number, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", duration))


async def run(sandbox: Sandbox, n: int) -> dict:
    c = Config()
    c.Federation.clusters = [m for m in member_clusters(sandbox.dir) if m["name"] in WORKERS]
    registry = ClusterRegistry.shared(c)
    await registry.start()
    await registry.wait_ready()
    cl = Clusters(sandbox, registry)
    board = QueueBoard(registry)
    try:
        board.start()
        await asyncio.sleep(2.5)
        fs = await fedspawner_run(cl, board, n)
        mk = await multikueue_run(cl, n)
        config = yaml.safe_load((sandbox.dir / "clusters" / MANAGER / "operators" / "kueue" / "config.yaml")
                                .read_text())
        lost = await lost_cluster(cl, sandbox, config["multiKueue"]["workerLostTimeout"])
    finally:
        await board.stop()
        await cl.close()
        await ClusterRegistry.reset_shared()
    ratio = (fs.get("admissions_per_s") or 0) / mk["admissions_per_s"] if mk.get("admissions_per_s") else None
    return {"workloads": n, "clusters": {"workers": list(WORKERS), "full": FULL, "manager": MANAGER},
            "admission": {"fedspawner": fs, "multikueue": mk,
                          "ratio_admissions_per_s_fedspawner_over_multikueue": round(ratio, 2) if ratio else None,
                          "ratio_p95_multikueue_over_fedspawner": round(mk["p95_s"] / fs["p95_s"], 2)
                          if fs.get("p95_s") and mk.get("p95_s") else None},
            "lost_cluster": {**lost, "ratio_multikueue_timeout_over_fedspawner_detect": round(
                lost["multikueue"]["worker_lost_timeout_s"] / lost["fedspawner"]["detect_s"], 1)
                if lost["fedspawner"]["detect_s"] else None}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", type=int, default=100)
    parser.add_argument("--sandbox-dir", type=Path, help="a running sandbox of this benchmark's topology")
    args = parser.parse_args()
    own = args.sandbox_dir is None
    sandbox = Sandbox(args.sandbox_dir or STATE, log=lambda *_: None)
    if own:
        sandbox.down()
        path = STATE.with_suffix(".yaml")
        path.write_text(yaml.safe_dump(topology(int(os.environ.get("FEDSPAWNER_BENCH_BASE_PORT", "27400")))))
        sandbox.up(path)
    try:
        print(json.dumps(asyncio.run(run(sandbox, args.workloads)), indent=1))
    finally:
        if own:
            sandbox.down()


if __name__ == "__main__":
    main()
