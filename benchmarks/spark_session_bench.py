"""Spark session benchmark: start time, and the tunnel's cost against a direct connection.

Prints one JSON document. Runs a sandbox (reused when one is running in ``--sandbox-dir``) and a
real JupyterHub with the gateway as its managed service, starts one Spark Connect session on
``regional`` (1 executor) with ``client.spark_session`` through the hub's proxy, and measures:

- ``start_s``: from the create request until the SparkSession is usable (the Connect server
  answers through the tunnel), including the pods' JVM start-up on the sandbox.
- ``small_query_ms``: round trip of ``SELECT 1`` (collect), through the tunnel (kernel → local
  port → WebSocket through the hub's proxy → gateway → port-forward → driver) and straight to
  the same Connect server at its pod address (loopback in the sandbox); ``ratio_p50``.
- ``large_query``: MB/s of a 400,000-row result (``toArrow``) both ways; ``ratio`` is direct ÷
  tunnel (how many times slower the tunnel is).
- ``concurrent``: ``--concurrent`` sessions (default 10) from ``--users`` users (default 5; the
  gateway lets one user hold 2) started at once with the smallest pods Spark allows (1.5 GiB,
  1 CPU, one executor, so a driver heap of 921 MiB): each session's start time, the time until
  all are ready, one small query in every session at once (latency), the gateway's session list
  under that load, and how many started at all. Every session is a driver and an executor JVM;
  on a small machine pass a lower ``--concurrent`` (the JSON says what was asked and what ran).

Sessions are stopped at the end, also after a failure.

Usage: python benchmarks/spark_session_bench.py [--sandbox-dir DIR] [--base-port P] [--hub-port P]
       [--rounds N] [--rows N] [--concurrent N] [--users N] [--skip-single]
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import aiohttp
from kubernetes_asyncio import config

sys.path.insert(0, str(Path(__file__).parent))
from gateway_bench import hub_bench_parser, run_on_hub, stats, user_tokens, wait_healthy  # noqa: E402

from fedspawner.client.gateway import Gateway  # noqa: E402
from fedspawner.client.spark_session import FedSparkSession, call, current, spark_session  # noqa: E402
from fedspawner.demo.hub_config import GATEWAY  # noqa: E402
from fedspawner.gateway import kube  # noqa: E402
from fedspawner.jobs.render.spark_connect import CONNECT_PORT, LABEL_SESSION_ID  # noqa: E402

STATE = Path(tempfile.gettempdir()) / "fedspawner-spark-session-bench"
CLUSTER = "regional"


def timed(fn) -> float:
    began = time.perf_counter()
    fn()
    return time.perf_counter() - began


def small_queries(spark, rounds: int) -> list[float]:
    spark.sql("SELECT 1").collect()  # warm
    return [timed(lambda: spark.sql("SELECT 1").collect()) * 1000 for _ in range(rounds)]


def large_query(spark, rows: int) -> dict:
    frame = spark.range(0, rows, numPartitions=4).selectExpr("id", "id * 2 AS twice", "repeat('x', 40) AS pad")
    frame.limit(10).toArrow()  # warm
    best = None
    for _ in range(3):
        began = time.perf_counter()
        table = frame.toArrow()
        seconds = time.perf_counter() - began
        assert table.num_rows == rows
        best = seconds if best is None else min(best, seconds)
    megabytes = table.nbytes / 1e6
    return {"rows": rows, "megabytes": round(megabytes, 1), "seconds": round(best, 2),
            "mb_per_s": round(megabytes / best, 1)}


async def driver_address(kubeconfig: str, namespace: str, session_id: str) -> str:
    api = await config.new_client_from_config(kubeconfig, context=f"{CLUSTER}-admin")
    async with api:
        pods = await kube.list_objects(api, kube.PODS, namespace, kube.selector(
            {LABEL_SESSION_ID: session_id, "fedspawner.dev/component": "driver"}))
    return pods[0]["status"]["podIP"]


def measure_session(gateway: Gateway, args, state: dict) -> dict:
    from pyspark.sql import SparkSession

    told: list[str] = []
    began = time.perf_counter()
    spark = spark_session(CLUSTER, 1, cpu="1", memory="2Gi", gateway=gateway, stop_with_kernel=False,
                          narrate=told.append, timeout=600)
    start_s = time.perf_counter() - began
    session = current()
    try:
        address = asyncio.run(driver_address(state["kubeconfig"], state["namespace"], session.id))
        if not address.startswith("127."):
            raise SystemExit(f"the driver's address {address} is not on loopback; not connecting to it")
        direct = SparkSession.builder.remote(f"sc://{address}:{CONNECT_PORT}").create()
        tunnel_small = small_queries(spark, args.rounds)
        direct_small = small_queries(direct, args.rounds)
        tunnel_large, direct_large = large_query(spark, args.rows), large_query(direct, args.rows)
        direct.stop()
    finally:
        session.stop()
    small = {"tunnel": stats(tunnel_small), "direct": stats(direct_small)}
    small["ratio_p50"] = round(small["tunnel"]["p50"] / small["direct"]["p50"], 2)
    return {"cluster": CLUSTER, "narration": told[0], "start_s": round(start_s, 1), "small_query_ms": small,
            "large_query": {"tunnel": tunnel_large, "direct": direct_large,
                            "ratio": round(direct_large["mb_per_s"] / tunnel_large["mb_per_s"], 2)}}


#: The smallest session: Spark's floor of memory per pod, one CPU, one executor.
SMALL = {"executors": 1, "cpu": "1", "memory": "1536Mi"}


def start_small(gateway: Gateway, cluster: str) -> tuple[FedSparkSession, float]:
    """Start one small session and connect to it; the session and its start time (s)."""
    began = time.perf_counter()
    session = FedSparkSession(gateway, call(gateway, "POST", "sessions", body={"cluster": cluster, **SMALL})["session"])
    try:
        session.wait_ready(900, poll=2.0)
        session.connect()
    except BaseException:
        session.stop()
        raise
    return session, time.perf_counter() - began


def measure_concurrent(gateways: list[Gateway], count: int) -> dict:
    """``count`` small sessions started at once, spread over the users of ``gateways``."""
    sessions: list[FedSparkSession] = []
    failures: list[str] = []
    began = time.perf_counter()
    with ThreadPoolExecutor(count) as pool:
        futures = [pool.submit(start_small, gateways[i % len(gateways)], "auto") for i in range(count)]
        starts = []
        for future in futures:
            try:
                session, seconds = future.result()
                sessions.append(session)
                starts.append(seconds)
            except Exception as err:  # noqa: BLE001 - counted and reported
                failures.append(str(err)[:300])
        all_ready = time.perf_counter() - began
        try:
            listed = [timed(lambda g=g: call(g, "GET", "sessions")) * 1000 for g in gateways]
            queries = list(pool.map(lambda s: timed(lambda: s.spark.range(1000).count()) * 1000, sessions))
        finally:
            list(pool.map(lambda s: s.stop(), sessions))
    clusters: dict[str, int] = {}
    for session in sessions:
        clusters[session.view["cluster"]] = clusters.get(session.view["cluster"], 0) + 1
    return {"asked": count, "users": len(gateways), "started": len(sessions), "failed": failures,
            "clusters": clusters, "start_s": stats(starts), "all_ready_s": round(all_ready, 1),
            "query_ms": stats(queries), "list_sessions_ms": stats(listed)}


async def measure(args, state: dict, hub_url: str) -> dict:
    await wait_healthy(f"{hub_url}/services/{GATEWAY}/api/v1/")
    names = ["spark-bench", *(f"spark-bench-{i}" for i in range(args.users))]
    async with aiohttp.ClientSession() as http:
        tokens = await user_tokens(http, hub_url, names)
    url = f"{hub_url}/services/{GATEWAY}/"
    result = {}
    if not args.skip_single:
        result = await asyncio.to_thread(measure_session, Gateway(url, tokens["spark-bench"]), args, state)
    if args.concurrent:
        gateways = [Gateway(url, tokens[name]) for name in names[1:]]
        result["concurrent"] = await asyncio.to_thread(measure_concurrent, gateways, args.concurrent)
    return result


def main() -> None:
    parser = hub_bench_parser(__doc__, STATE, 21600, 21100)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--rows", type=int, default=400_000)
    parser.add_argument("--concurrent", type=int, default=10, help="sessions started at once (0: none)")
    parser.add_argument("--users", type=int, default=5, help="users the concurrent sessions belong to")
    parser.add_argument("--skip-single", action="store_true", help="only the concurrent measurement")
    print(json.dumps(run_on_hub(parser.parse_args(), measure), indent=2))


if __name__ == "__main__":
    main()
