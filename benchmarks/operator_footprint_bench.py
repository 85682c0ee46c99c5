"""What the operators cost a sandbox cluster: CPU seconds and memory of each operator process,
idle and under a few submissions, relative to the same cluster's kube-apiserver.

Prints one JSON document. Reads the processes of a running sandbox from its state file
(``<sandbox-dir>/sandbox.json``; a sandbox of the default topology is started there when none
runs, and stopped again) and samples ``/proc/<pid>/stat`` (user + system CPU time) and
``/proc/<pid>/status`` (``VmRSS``) of every ``operator-*`` process and of the kube-apiserver of
each cluster that runs operators:

- ``idle``: ``--idle-seconds`` with nothing submitted;
- ``load``: a real hub's gateway runs ``--jobs`` 2-node PyTorch jobs (one after another, each
  until it has Succeeded) on every cluster that runs Kubeflow Trainer, so Trainer and JobSet
  reconcile TrainJobs, JobSets, Jobs and pods.

Per process and window: ``cpu_s`` (CPU seconds used in the window), ``cpu_pct`` (of one core),
``rss_mib`` (the last sample) and ``rss_peak_mib``; ``vs_apiserver`` divides an operator's CPU
seconds and peak RSS by the kube-apiserver's of its cluster in the same window.

Usage: python benchmarks/operator_footprint_bench.py [--sandbox-dir DIR] [--base-port P] [--hub-port P]
                                                     [--idle-seconds S] [--jobs N]
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from fedspawner.demo.hub_config import GATEWAY

sys.path.insert(0, str(Path(__file__).parent))
from gateway_bench import hub_bench_parser, run_on_hub, user_tokens, wait_healthy  # noqa: E402
from trainjob_bench import one_run  # noqa: E402

STATE = Path(tempfile.gettempdir()) / "fedspawner-operator-footprint-bench"
TICKS = os.sysconf("SC_CLK_TCK")
APISERVER = "kube-apiserver"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (children not included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14 and 15 of stat)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def watched_processes(state: dict) -> dict[tuple[str, str], int]:
    """(cluster, component) -> pid of every operator and the kube-apiserver of clusters with operators."""
    procs = {(p["cluster"], p["component"]): p["pid"] for p in state["processes"]}
    clusters = {c for c, comp in procs if comp.startswith("operator-")}
    return {(c, comp): pid for (c, comp), pid in procs.items()
            if c in clusters and (comp.startswith("operator-") or comp == APISERVER)}


class Window:
    """CPU seconds and RSS of the watched processes over one stretch of time (RSS sampled each second)."""

    def __init__(self, pids: dict[tuple[str, str], int]):
        self.pids = pids
        self.cpu0 = {k: cpu_seconds(p) for k, p in pids.items()}
        self.peak = {k: rss_mib(p) for k, p in pids.items()}
        self.began = time.monotonic()
        self._task = asyncio.create_task(self._sample())

    async def _sample(self) -> None:
        while True:
            await asyncio.sleep(1)
            for key, pid in self.pids.items():
                self.peak[key] = max(self.peak[key], rss_mib(pid))

    async def close(self) -> dict:
        self._task.cancel()
        seconds = time.monotonic() - self.began
        out: dict[str, dict] = {}
        for (cluster, comp), pid in self.pids.items():
            used, rss = cpu_seconds(pid) - self.cpu0[(cluster, comp)], rss_mib(pid)
            out.setdefault(cluster, {})[comp] = {
                "cpu_s": round(used, 2), "cpu_pct": round(100 * used / seconds, 1),
                "rss_mib": round(rss, 1), "rss_peak_mib": round(max(rss, self.peak[(cluster, comp)]), 1)}
        for procs in out.values():
            api = procs[APISERVER]
            for comp, row in procs.items():
                if comp != APISERVER:
                    row["vs_apiserver"] = {
                        "cpu": round(row["cpu_s"] / api["cpu_s"], 3) if api["cpu_s"] else None,
                        "rss": round(row["rss_peak_mib"] / api["rss_peak_mib"], 3)}
        return {"seconds": round(seconds, 1), "processes": out}


async def measure(args, state: dict, hub_url: str) -> dict:
    pids = watched_processes(state)
    if not pids:
        raise SystemExit("no cluster of this sandbox runs an operator (topology key `operators:`)")
    trainer_clusters = sorted({c for c, comp in pids if comp == "operator-trainer"})
    base = f"{hub_url}/services/{GATEWAY}/api/v1/"
    await wait_healthy(base)
    async with aiohttp.ClientSession() as session:
        token = (await user_tokens(session, hub_url, ["footprint"]))["footprint"]
        window = Window(pids)
        await asyncio.sleep(args.idle_seconds)
        idle = await window.close()
        window = Window(pids)
        runs = []
        for cluster in trainer_clusters:
            for _ in range(args.jobs):
                runs.append({"cluster": cluster, **await one_run(session, base, token, cluster)})
        load = await window.close()
    return {"idle": idle, "load": {**load, "jobs": runs}}


def main() -> None:
    parser = hub_bench_parser(__doc__, STATE, 21200, 21700)
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    parser.add_argument("--jobs", type=int, default=3)
    print(json.dumps(run_on_hub(parser.parse_args(), measure), indent=2))


if __name__ == "__main__":
    main()
