"""zero-to-jupyterhub deployment benchmarks: helm build, render, the deployed hub's first spawn.

Prints one JSON document; each figure comes with a baseline measured in the same run:

- ``helm_build``: with ``--cold-build``, ``go install`` of helm into a fresh directory with
  empty Go module and build caches (downloads from the module proxy included), against
  finding the cached binary.
- ``render``: ``helm template`` of the real chart with its default values vs. with
  ``helm-values/values.yaml`` + each example (median of N rounds; schema validation included).
- ``first_spawn``: the chart installed into a sandbox cluster (hub + proxy pods under the
  node agent) — time until the hub answers through the chart's proxy, then POST → ready of
  the first and a second server on another cluster; baseline: the same spawns on the
  sandbox's own demo hub (a local JupyterHub process) over the same sandbox.

Usage: python benchmarks/helm_bench.py [--rounds 5] [--cold-build] [--skip-deploy]
Sandbox and ports: FEDSPAWNER_TEST_SANDBOX_DIR, FEDSPAWNER_TEST_BASE_PORT, FEDSPAWNER_TEST_HUB_PORT
(a sandbox already running there is reused, otherwise one is started and stopped).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from fedspawner.deploy.helm import HELM_VERSION, build_helm, ensure_helm, template
from fedspawner.deploy.helm_chart import BASE_VALUES, EXAMPLES, chart_dir
from fedspawner.demo.helm_sandbox import deploy, undeploy
from fedspawner.sandbox.manager import Sandbox

SANDBOX_DIR = Path(os.environ.get("FEDSPAWNER_TEST_SANDBOX_DIR", "/tmp/fedspawner-bench-helm/sandbox"))
BASE_PORT = int(os.environ.get("FEDSPAWNER_TEST_BASE_PORT", "18700"))
HUB_PORT = int(os.environ.get("FEDSPAWNER_TEST_HUB_PORT", "18400"))
TOKEN = "fedspawner-helm-bench-token-0123456789"
MEMBER = "regional"
DEMO_EXTRA = f"""
c.JupyterHub.services = list(c.JupyterHub.services) + [{{"name": "bench", "api_token": "{TOKEN}"}}]
c.JupyterHub.load_roles = list(c.JupyterHub.load_roles) + [{{"name": "bench", "services": ["bench"],
    "scopes": ["admin:users", "admin:servers", "read:users", "servers", "access:servers"]}}]
"""


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_build(cold: bool) -> dict:
    out = {"helm_version": HELM_VERSION, "cached_lookup_s": timed(lambda: ensure_helm(log=lambda *_: None))}
    if cold:
        with tempfile.TemporaryDirectory() as tmp:
            env = {"GOMODCACHE": f"{tmp}/mod", "GOCACHE": f"{tmp}/build"}
            try:
                out["cold_build_s"] = timed(lambda: build_helm(Path(tmp) / "helm", env=env))
            finally:
                make_removable(tmp)
    return out


def make_removable(tmp: str) -> None:
    """The Go module cache is read-only; make it removable."""
    for root, dirs, _ in os.walk(tmp):
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o755)


def bench_render(rounds: int) -> dict:
    chart = chart_dir()
    cases = {"chart_defaults": []} | {name: [BASE_VALUES, path] for name, path in EXAMPLES.items()}
    medians = {name: statistics.median(timed(lambda f=files: template(chart, f)) for _ in range(rounds))
               for name, files in cases.items()}
    base = medians["chart_defaults"]
    return {"rounds": rounds, "median_s": medians,
            "ratio_to_defaults": {k: round(v / base, 2) for k, v in medians.items() if k != "chart_defaults"}}


def call(url: str, method: str, path: str, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"{url}{path}", method=method, data=data,
                                 headers={"Authorization": f"token {TOKEN}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        raw = resp.read()
        return json.loads(raw) if raw else None


def spawn_seconds(url: str, user: str) -> float:
    """POST a server (CPU profile on the member cluster) and wait until the hub says it is ready."""
    try:
        call(url, "POST", f"/hub/api/users/{user}")
    except urllib.error.HTTPError as err:
        if err.code != 409:
            raise
    start = time.perf_counter()
    call(url, "POST", f"/hub/api/users/{user}/server", {"profile": "cpu", "cluster": MEMBER})
    while True:
        server = call(url, "GET", f"/hub/api/users/{user}")["servers"].get("")
        if server and server.get("ready"):
            return time.perf_counter() - start
        if not server or not server.get("pending"):
            raise RuntimeError(f"spawn of {user} failed: {server}")
        time.sleep(0.05)


def stop_all(url: str, users: list[str]) -> None:
    for user in users:
        call(url, "DELETE", f"/hub/api/users/{user}/server")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and any(
            call(url, "GET", f"/hub/api/users/{u}")["servers"] for u in users):
        time.sleep(0.2)


def spawns(url: str, prefix: str) -> dict:
    users = [f"{prefix}-first", f"{prefix}-second"]
    try:
        return {"first_spawn_s": spawn_seconds(url, users[0]), "second_spawn_s": spawn_seconds(url, users[1])}
    finally:
        stop_all(url, users)


def bench_deploy(box: Sandbox) -> dict:
    kubeconfig = box.kubeconfig
    asyncio.run(undeploy(kubeconfig, "onprem", "jhub-bench"))
    start = time.perf_counter()
    deployment = asyncio.run(deploy(box.dir, kubeconfig, hub_cluster="onprem", members=[MEMBER],
                                    namespace="jhub-bench", api_token=TOKEN, timeout=180))
    z2jh = {"install_to_hub_answering_s": time.perf_counter() - start}
    try:
        z2jh |= spawns(deployment.url, "z2jh")
    finally:
        asyncio.run(undeploy(kubeconfig, "onprem", "jhub-bench"))
    from fedspawner.demo.runner import prepare_hub

    state = Path(tempfile.mkdtemp(prefix="fedspawner-helm-bench-hub-"))
    hub = prepare_hub(state, box.dir, port=HUB_PORT, extra_config=DEMO_EXTRA, log=lambda *_: None)
    start = time.perf_counter()
    hub.start()
    demo = {"start_to_hub_answering_s": time.perf_counter() - start}
    try:
        demo |= spawns(hub.url, "demo")
    finally:
        hub.stop()
        shutil.rmtree(state, ignore_errors=True)
    return {"z2jh_hub_in_sandbox": z2jh, "demo_hub_process": demo,
            "ratio_first_spawn": round(z2jh["first_spawn_s"] / demo["first_spawn_s"], 2),
            "ratio_second_spawn": round(z2jh["second_spawn_s"] / demo["second_spawn_s"], 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cold-build", action="store_true", help="also time a cold go install of helm")
    parser.add_argument("--skip-deploy", action="store_true", help="build and render figures only")
    args = parser.parse_args()
    if chart_dir() is None:
        sys.exit("the z2jh chart source is not on this machine; set FEDSPAWNER_Z2JH_CHART")
    result = {"helm_build": bench_build(args.cold_build), "render": bench_render(args.rounds)}
    if not args.skip_deploy:
        box = Sandbox(SANDBOX_DIR, log=lambda *_: None)
        started = not (box.read_state() or {}).get("ready") or not box.running_processes()
        if started:
            box.down()
            box.up(base_port=BASE_PORT)
        try:
            result["first_spawn"] = bench_deploy(box)
        finally:
            if started:
                box.down()
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
