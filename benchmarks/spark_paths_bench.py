"""Spark paths benchmark: the Kubeflow Spark operator against a per-job standalone Spark cluster.

Prints one JSON document. Runs on a sandbox of the default topology (reused when one is
running in ``--sandbox-dir``) and a real hub with the gateway, and submits the same tiny
PySpark job (2 executors, 1 CPU and 1536Mi each) through the gateway, alternately:

- ``spark-operator``: to ``regional``, which runs the Spark operator (a SparkApplication; the
  operator runs spark-submit, which creates the driver pod; the driver creates its executors);
- ``standalone``: to ``burst``, which runs none (a ConfigMap, a Service and two Indexed Jobs:
  master + driver in one pod, workers in the others).

For each run it times, from the submission's answer, the moment the gateway first shows the
driver pod Running and the moment the job has Succeeded (polling ``GET /jobs/{id}`` every
0.25 s). Medians per path, and the ratios operator / standalone, come from the same run.
One Spark application at a time: each run is cancelled and gone before the next starts.

Usage: python benchmarks/spark_paths_bench.py [--sandbox-dir DIR] [--base-port P] [--hub-port P] [--reps N]
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gateway_bench import Client, hub_bench_parser, run_on_hub, user_tokens, wait_healthy  # noqa: E402

from fedspawner.demo.hub_config import GATEWAY  # noqa: E402

STATE = Path(tempfile.gettempdir()) / "fedspawner-spark-paths-bench"
PATHS = {"spark-operator": ("regional", "sparkapplication"), "standalone": ("burst", "spark-standalone")}
SCRIPT = """
from pyspark.sql import SparkSession

spark = SparkSession.builder.appName("bench").getOrCreate()
total = spark.sparkContext.parallelize(range(1, 1001), 4).map(lambda x: x * x).sum()
print(f"RESULT {total}", flush=True)
spark.stop()
"""
POLL = 0.25
TIMEOUT = 600.0


async def one_run(gw: Client, token: str, path: str) -> dict:
    """Submit the job on ``path``; seconds to the driver Running and to Succeeded."""
    cluster, backend = PATHS[path]
    status, answer, _ = await gw.call("POST", "jobs", token, {
        "kind": "spark", "name": f"bench-{path.split('-')[0]}", "script": SCRIPT, "executors": 2,
        "cluster": cluster, "cpu": "1", "memory": "1536Mi"})
    if status != 201:
        raise SystemExit(f"submitting to {cluster} failed: {status} {answer}")
    began, job = time.monotonic(), answer["job"]
    assert job["backend"] == backend, job
    driver_running = None
    try:
        while time.monotonic() - began < TIMEOUT:
            _, view, _ = await gw.call("GET", f"jobs/{job['id']}", token)
            view = view["job"]
            if driver_running is None and any(p["role"] == "driver" and p["phase"] in ("Running", "Succeeded")
                                              for p in view["pods"]):
                driver_running = time.monotonic() - began
            if view["phase"] in ("Succeeded", "Failed"):
                if view["phase"] == "Failed":
                    raise SystemExit(f"the {path} job failed: {view['message']}")
                return {"driver_running_s": round(driver_running or 0.0, 2),
                        "succeeded_s": round(time.monotonic() - began, 2)}
            await asyncio.sleep(POLL)
        raise SystemExit(f"the {path} job did not finish within {TIMEOUT:.0f}s")
    finally:
        await gone(gw, token, job["id"])


async def gone(gw: Client, token: str, job_id: str) -> None:
    """Cancel the job and wait until the gateway no longer knows it (every object deleted)."""
    await gw.call("DELETE", f"jobs/{job_id}", token)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        status, _, _ = await gw.call("GET", f"jobs/{job_id}", token)
        if status == 404:
            return
        await asyncio.sleep(0.5)


def summary(runs: list[dict]) -> dict:
    return {key: {"median": round(statistics.median(r[key] for r in runs), 2),
                  "runs": [r[key] for r in runs]} for key in ("driver_running_s", "succeeded_s")}


async def measure(args, sandbox_state: dict, hub_url: str) -> dict:
    proxied = f"{hub_url}/services/{GATEWAY}/api/v1/"
    await wait_healthy(proxied)
    async with aiohttp.ClientSession() as session:
        token = (await user_tokens(session, hub_url, ["sparkbench"]))["sparkbench"]
        gw = Client(session, proxied)
        await one_run(gw, token, "standalone")  # warms the page cache of Spark's jars and the gateway
        runs: dict[str, list[dict]] = {path: [] for path in PATHS}
        for _ in range(args.reps):
            for path in PATHS:  # alternated, so a busier moment of the machine hits both paths
                runs[path].append(await one_run(gw, token, path))
    result = {path: summary(r) for path, r in runs.items()}
    op, sa = result["spark-operator"], result["standalone"]
    result["ratio_operator_vs_standalone"] = {
        key: round(op[key]["median"] / sa[key]["median"], 2) for key in ("driver_running_s", "succeeded_s")}
    result["paths"] = {path: {"cluster": c, "backend": b} for path, (c, b) in PATHS.items()}
    result["reps"] = args.reps
    return result


def main() -> None:
    parser = hub_bench_parser(__doc__, STATE, 21600, 21200)
    parser.add_argument("--reps", type=int, default=3)
    print(json.dumps(run_on_hub(parser.parse_args(), measure), indent=2))


if __name__ == "__main__":
    main()
