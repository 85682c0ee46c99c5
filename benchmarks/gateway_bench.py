"""Gateway benchmark: submit latency against a direct-client baseline, and 100 concurrent submissions.

Prints one JSON document. Runs a sandbox (reused when one is running in ``--sandbox-dir``)
and a real JupyterHub with the gateway as its managed service, then measures:

- ``submit_latency_ms``: HTTP ``POST /jobs`` until the answer, which comes once every object
  of the job exists on the member cluster (the gateway creates them before answering),
  through the hub's proxy (the notebook's path) and straight to the gateway. The baseline,
  in the same run, creates the same rendered objects (ConfigMap + Indexed Job) directly with
  the kubernetes client and the same namespace credential; ``ratio_p50`` is the gateway's
  overhead factor (auth, validation, placement, rendering, HTTP). Goal: p50 ≤ 300 ms.
- ``load``: 100 submissions at once from 10 users (10 each): how many were created (none
  may be lost), how many each user then lists (exactly their own 10), and how many job ids
  show up in another user's list (must be 0); p50/p95 latency under load.

Jobs ask for 60 CPUs and 400 GiB on ``regional`` (whose nodes the gateway cannot see), so at
most one pod at a time really runs and the benchmark measures the gateway, not the machine.
Every job is cancelled at the end, also when a measurement fails; ``failed_cancels`` counts the
cancels the gateway did not answer with 200.

Usage: python benchmarks/gateway_bench.py [--sandbox-dir DIR] [--base-port P] [--hub-port P] [--rounds N]
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
from kubernetes_asyncio import client, config

from fedspawner.demo.hub_config import GATEWAY, GATEWAY_PORT_OFFSET
from fedspawner.demo.runner import prepare_hub
from fedspawner.gateway import kube
from fedspawner.gateway.identity import JobRecord, anchor_patch, new_job_id, object_name
from fedspawner.jobs import JobSpec, RenderTarget
from fedspawner.jobs.labels import job_selector
from fedspawner.jobs.render import render
from fedspawner.sandbox.manager import Sandbox

STATE = Path(tempfile.gettempdir()) / "fedspawner-gateway-bench"
CLUSTER = "regional"
SPEC = {"kind": "job", "script": "import time\ntime.sleep(3600)\n", "cpu": "60", "memory": "400Gi",
        "cluster": CLUSTER}
ADMIN_TOKEN = "fedspawner-bench-admin-token"
HUB_EXTRA = f"""
c.JupyterHub.load_roles = list(c.JupyterHub.load_roles) + [{{
    "name": "bench-admin", "services": ["bench"], "scopes": ["admin:users", "tokens", "access:services"]}}]
c.JupyterHub.services = list(c.JupyterHub.services) + [{{"name": "bench", "api_token": "{ADMIN_TOKEN}"}}]
"""


def stats(values: list[float]) -> dict:
    ordered = sorted(values)
    pick = (lambda q: ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]) if ordered else None
    return {"n": len(values), "p50": round(statistics.median(ordered), 1) if ordered else None,
            "p95": round(pick(0.95), 1) if ordered else None,
            "max": round(ordered[-1], 1) if ordered else None}


async def user_tokens(session: aiohttp.ClientSession, hub_url: str, names: list[str]) -> dict[str, str]:
    """A fresh API token for each user (created first when missing), from the hub's REST API."""
    headers = {"Authorization": f"token {ADMIN_TOKEN}"}
    tokens = {}
    for name in names:
        async with session.post(f"{hub_url}/hub/api/users/{name}", headers=headers) as resp:
            assert resp.status in (201, 409), await resp.text()
        async with session.post(f"{hub_url}/hub/api/users/{name}/tokens", headers=headers,
                                json={"note": "gateway benchmark"}) as resp:
            tokens[name] = (await resp.json())["token"]
    return tokens


class Client:
    def __init__(self, session: aiohttp.ClientSession, base: str):
        self.session, self.base = session, base

    async def call(self, method: str, path: str, token: str, body=None) -> tuple[int, dict, float]:
        began = time.perf_counter()
        async with self.session.request(method, self.base + path, json=body,
                                        headers={"Authorization": f"token {token}"}) as resp:
            answer = await resp.json(content_type=None)
        return resp.status, answer, (time.perf_counter() - began) * 1000


async def wait_healthy(url: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            try:
                async with session.get(url + "health") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.3)
    raise SystemExit(f"the gateway did not come up at {url}")


async def submit_latency(gw: Client, direct: Client, token: str, rounds: int,
                         made: list[tuple[str, str]]) -> dict:
    """POST /jobs latency through the hub's proxy and straight to the gateway; ``made`` gets every job."""
    via_proxy, straight = [], []
    for i in range(rounds + 2):
        for target, sink in ((gw, via_proxy), (direct, straight)):
            status, answer, ms = await target.call("POST", "jobs", token, SPEC)
            assert status == 201, answer
            made.append((token, answer["job"]["id"]))
            if i >= 2:  # the first two warm the hub's token cache and discovery
                sink.append(ms)
    return {"gateway_via_proxy": stats(via_proxy), "gateway_direct": stats(straight)}


async def baseline(kubeconfig: str, namespace: str, rounds: int, made: list[str]) -> dict:
    """The same objects created straight with the kubernetes client (typed APIs); ``made`` gets their ids."""
    api = await config.new_client_from_config(kubeconfig, context=CLUSTER)
    core, batch = client.CoreV1Api(api), client.BatchV1Api(api)
    spec = JobSpec.from_dict({k: v for k, v in SPEC.items() if k != "cluster"})
    times = []
    try:
        for i in range(rounds + 2):
            job_id = new_job_id()
            named = JobSpec.from_dict({**spec.to_dict(), "name": object_name(spec.name, job_id)})
            objects = render(named, RenderTarget(namespace=namespace, job_id=job_id, owner="bench",
                                                 backend="indexed-job"))
            anchor_patch(objects, JobRecord.for_spec(spec, None, frozenset(), False), spec)
            made.append(job_id)
            began = time.perf_counter()
            await core.create_namespaced_config_map(namespace, objects[0])
            await batch.create_namespaced_job(namespace, objects[1])
            if i >= 2:
                times.append((time.perf_counter() - began) * 1000)
    finally:
        await api.close()
    return stats(times)


async def load(gw: Client, tokens: dict[str, str], per_user: int, made: list[tuple[str, str]]) -> dict:
    """Every user submits ``per_user`` jobs at once; ``made`` gets every job created."""
    async def one(user: str) -> tuple[str, int, dict, float]:
        status, answer, ms = await gw.call("POST", "jobs", tokens[user], SPEC)
        if status == 201:
            made.append((tokens[user], answer["job"]["id"]))
        return user, status, answer, ms

    began = time.perf_counter()
    results = await asyncio.gather(*(one(u) for u in tokens for _ in range(per_user)))
    wall = time.perf_counter() - began
    created = [(u, a["job"]["id"]) for u, s, a, _ in results if s == 201]
    errors = sorted({f"{s}: {a.get('message', a)}"[:200] for _, s, a, _ in results if s != 201})
    mine = {u: {j for owner, j in created if owner == u} for u in tokens}
    listed, leaked = {}, 0
    for user, token in tokens.items():
        status, answer, _ = await gw.call("GET", "jobs", token)
        seen = {j["id"] for j in answer["jobs"]}
        listed[user] = len(seen & mine[user])
        leaked += len(seen - mine[user])
    return {
        "submissions": len(results), "users": len(tokens), "created": len(created),
        "lost": len(results) - len(created), "errors": errors,
        "each_user_lists_own": sorted(set(listed.values())), "leaked_to_other_users": leaked,
        "latency_ms": stats([ms for *_, ms in results]), "wall_s": round(wall, 2),
        "submissions_per_s": round(len(results) / wall, 1),
    }


async def cancel_all(gw: Client, jobs: list[tuple[str, str]]) -> tuple[float, int]:
    """Cancel ``jobs`` (10 at a time) and empty the list: (seconds taken, how many cancels failed)."""
    gate = asyncio.Semaphore(10)

    async def one(token: str, job_id: str) -> int:
        async with gate:
            status, _, _ = await gw.call("DELETE", f"jobs/{job_id}", token)
            return status

    began = time.perf_counter()
    answers = await asyncio.gather(*(one(t, j) for t, j in jobs), return_exceptions=True)
    jobs.clear()
    return time.perf_counter() - began, sum(1 for a in answers if a != 200)


async def remove_baseline(kubeconfig: str, namespace: str, job_ids: list[str]) -> None:
    """Delete the baseline's objects (by job-id label) and empty the list."""
    api = await config.new_client_from_config(kubeconfig, context=CLUSTER)
    try:
        for job_id in job_ids:
            selector = kube.selector(job_selector(job_id))
            await client.BatchV1Api(api).delete_collection_namespaced_job(
                namespace, label_selector=selector, propagation_policy="Background")
            await client.CoreV1Api(api).delete_collection_namespaced_config_map(namespace,
                                                                                label_selector=selector)
    finally:
        await api.close()
    job_ids.clear()


async def measure(args, sandbox_state: dict, hub_url: str) -> dict:
    """Run both measurements; every job made is cancelled even when a measurement fails."""
    gateway_port = args.hub_port + GATEWAY_PORT_OFFSET
    proxied = f"{hub_url}/services/{GATEWAY}/api/v1/"
    straight = f"http://127.0.0.1:{gateway_port}/services/{GATEWAY}/api/v1/"
    kubeconfig, namespace = sandbox_state["kubeconfig"], sandbox_state["namespace"]
    await wait_healthy(proxied)
    users = [f"bench{i}" for i in range(10)]
    made: list[tuple[str, str]] = []  # (token, job id) of the gateway's jobs not cancelled yet
    made_directly: list[str] = []  # job ids of the baseline's objects not removed yet
    failed_cancels = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200)) as session:
        tokens = await user_tokens(session, hub_url, users)
        gw, direct = Client(session, proxied), Client(session, straight)
        try:
            latency = await submit_latency(gw, direct, tokens[users[0]], args.rounds, made)
            base = await baseline(kubeconfig, namespace, args.rounds, made_directly)
            latency["baseline_direct_client"] = base
            latency["ratio_p50_proxy_vs_baseline"] = round(latency["gateway_via_proxy"]["p50"] / base["p50"], 2)
            latency["ratio_p50_direct_vs_baseline"] = round(latency["gateway_direct"]["p50"] / base["p50"], 2)
            latency["goal_p50_ms"] = 300
            latency["goal_met"] = latency["gateway_via_proxy"]["p50"] <= 300
            failed_cancels += (await cancel_all(gw, made))[1]
            await remove_baseline(kubeconfig, namespace, made_directly)
            result = await load(gw, tokens, 10, made)
            seconds, failed = await cancel_all(gw, made)
            failed_cancels += failed
            result["cancel_all_s"] = round(seconds, 1)
        finally:
            if made:  # a measurement failed half-way: still leave nothing behind
                failed = (await cancel_all(gw, made))[1]
                print(f"gateway_bench: {failed} cancel(s) failed while cleaning up", file=sys.stderr)
            if made_directly:
                await remove_baseline(kubeconfig, namespace, made_directly)
    return {"cluster": CLUSTER, "submit_latency_ms": latency, "load": result, "failed_cancels": failed_cancels}


def run_on_hub(args, measure_fn) -> dict:
    """``measure_fn(args, sandbox_state, hub_url)`` on the sandbox in ``args.sandbox_dir`` (started and
    stopped here unless one is running there) and a real hub with the gateway (always started here)."""
    box = Sandbox(args.sandbox_dir, log=lambda *_: None)
    state = box.read_state()
    started_sandbox = not (state and state.get("ready") and box.running_processes())
    if started_sandbox:
        box.up(None, base_port=args.base_port)
        state = box.read_state()
    hub = prepare_hub(args.sandbox_dir.parent / "hub", args.sandbox_dir, port=args.hub_port,
                      extra_config=HUB_EXTRA, log=lambda *_: None)
    hub.start()
    try:
        return asyncio.run(measure_fn(args, state, hub.url))
    finally:
        hub.stop()
        if started_sandbox:
            box.down()


def hub_bench_parser(doc: str, state: Path, base_port: int, hub_port: int) -> argparse.ArgumentParser:
    """The options of a benchmark that runs on ``run_on_hub``: where its sandbox lives and its ports."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("--sandbox-dir", type=Path, default=state / "sandbox")
    parser.add_argument("--base-port", type=int, default=base_port)
    parser.add_argument("--hub-port", type=int, default=hub_port)
    return parser


def main() -> None:
    parser = hub_bench_parser(__doc__, STATE, 21400, 21000)
    parser.add_argument("--rounds", type=int, default=20)
    print(json.dumps(run_on_hub(parser.parse_args(), measure), indent=2))


if __name__ == "__main__":
    main()
