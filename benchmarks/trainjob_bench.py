"""TrainJob path vs Indexed Job path: how long a 2-node PyTorch job takes to start and to finish.

Prints one JSON document. Brings up its own sandbox of two clusters with identical nodes
(two agent nodes of 16 CPUs each): ``trainer`` runs Kubeflow Trainer v2 and JobSet, so the
gateway renders a TrainJob there; ``plain`` runs no operator, so the same job is a headless
Service and an Indexed Job. A real hub runs the gateway as its service. Each repetition
submits the same 2-node torchrun DDP job (gloo, CPU, one all-reduce) to each cluster in
turn and follows the job's watch stream:

- ``to_first_rank_running_s``: from sending ``POST /jobs`` until the first rank's pod runs;
- ``to_succeeded_s``: until the job has Succeeded (every rank done, its workload says so).

Per path: the samples, their median; ``ratio_trainjob_vs_indexed`` divides the TrainJob
path's medians by the Indexed Job path's (above 1: the operators cost that much more).
Jobs are cancelled after each run, also when a run fails.

Usage: python benchmarks/trainjob_bench.py [--reps N] [--state-dir DIR] [--base-port P] [--hub-port P]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from fedspawner.demo.hub_config import GATEWAY
from fedspawner.demo.runner import prepare_hub
from fedspawner.sandbox.manager import Sandbox

sys.path.insert(0, str(Path(__file__).parent))
from gateway_bench import HUB_EXTRA, user_tokens, wait_healthy  # noqa: E402

STATE = Path(tempfile.gettempdir()) / "fedspawner-trainjob-bench"
PATHS = {"trainjob": "trainer", "indexed-job": "plain"}  # backend -> the cluster that renders it
NODES = """    node_groups:
      - name: cpu
        count: 2
        cpu: "16"
        memory: 64Gi
"""
TOPOLOGY = f"""# Two clusters with identical nodes; only one runs Kubeflow Trainer (trainjob_bench.py).
namespace: fedspawner
environments:
  - image: "pytorch/*"
    python: workload
  - image: "*"
    python: default
clusters:
  - name: trainer
    inventory_reader: true
    operators: [jobset, trainer]
{NODES}  - name: plain
    inventory_reader: true
{NODES}"""
SCRIPT = """
import torch
import torch.distributed as dist

dist.init_process_group("gloo")
value = torch.tensor([float(dist.get_rank() + 1)])
dist.all_reduce(value)
print(f"rank {dist.get_rank()}: {value.item():.1f}", flush=True)
dist.destroy_process_group()
"""


async def one_run(session: aiohttp.ClientSession, base: str, token: str, cluster: str) -> dict:
    """Submit the DDP job to ``cluster`` and follow it to its end; the times, then cancel it."""
    headers = {"Authorization": f"token {token}"}
    spec = {"kind": "pytorch", "name": "bench-ddp", "script": SCRIPT, "nodes": 2, "cpu": "1", "memory": "2Gi",
            "cluster": cluster}
    began = time.monotonic()
    async with session.post(f"{base}jobs", json=spec, headers=headers) as resp:
        answer = await resp.json(content_type=None)
        assert resp.status == 201, answer
    job = answer["job"]
    first_running = None
    try:
        timeout = aiohttp.ClientTimeout(total=600, sock_read=600)
        async with session.get(f"{base}jobs/{job['id']}/watch", headers=headers, timeout=timeout) as resp:
            async for raw in resp.content:
                view = json.loads(raw).get("job")
                if view is None:
                    continue
                if first_running is None and any(p["phase"] in ("Running", "Succeeded") for p in view["pods"]):
                    first_running = time.monotonic() - began
                if view["phase"] in ("Succeeded", "Failed"):
                    break
        ended = time.monotonic() - began
        if view["phase"] != "Succeeded":
            raise RuntimeError(f"the job on {cluster} ended {view['phase']}: {view['message']}")
        return {"backend": job["backend"], "to_first_rank_running_s": round(first_running, 2),
                "to_succeeded_s": round(ended, 2)}
    finally:
        async with session.delete(f"{base}jobs/{job['id']}", headers=headers) as resp:
            await resp.read()


def summary(runs: list[dict]) -> dict:
    out = {}
    for key in ("to_first_rank_running_s", "to_succeeded_s"):
        values = [r[key] for r in runs]
        out[key] = {"samples": values, "median": round(statistics.median(values), 2)}
    return out


async def measure(hub_url: str, reps: int) -> dict:
    base = f"{hub_url}/services/{GATEWAY}/api/v1/"
    await wait_healthy(base)
    runs: dict[str, list[dict]] = {backend: [] for backend in PATHS}
    async with aiohttp.ClientSession() as session:
        token = (await user_tokens(session, hub_url, ["trainbench"]))["trainbench"]
        for backend, cluster in PATHS.items():  # a warm-up run each (images, first discovery): not counted
            assert (await one_run(session, base, token, cluster))["backend"] == backend
        for _ in range(reps):
            for backend, cluster in PATHS.items():
                run = await one_run(session, base, token, cluster)
                assert run["backend"] == backend, run
                runs[backend].append(run)
    paths = {backend: {"cluster": PATHS[backend], **summary(r)} for backend, r in runs.items()}
    ratio = {key: round(paths["trainjob"][key]["median"] / paths["indexed-job"][key]["median"], 2)
             for key in ("to_first_rank_running_s", "to_succeeded_s")}
    return {"nodes_per_job": 2, "reps": reps, "paths": paths, "ratio_trainjob_vs_indexed": ratio}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--state-dir", type=Path, default=STATE)
    parser.add_argument("--base-port", type=int, default=21200)
    parser.add_argument("--hub-port", type=int, default=21700)
    args = parser.parse_args()
    sandbox_dir = args.state_dir / "sandbox"
    sandbox_dir.mkdir(parents=True, exist_ok=True)
    topology = args.state_dir / "topology.yaml"
    topology.write_text(TOPOLOGY)
    box = Sandbox(sandbox_dir, log=lambda *_: None)
    box.down()
    box.up(topology, base_port=args.base_port)
    try:
        hub = prepare_hub(args.state_dir / "hub", sandbox_dir, port=args.hub_port, extra_config=HUB_EXTRA,
                          log=lambda *_: None)
        hub.start()
        try:
            result = asyncio.run(measure(hub.url, args.reps))
        finally:
            hub.stop()
    finally:
        box.down()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
