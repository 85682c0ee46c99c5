"""Fixtures and a small REST client for the gateway's integration tests (no tests here).

The gateway runs as the demo hub's managed service (``hub`` fixture); tests reach it
through the hub's proxy, as notebooks do, with tokens the hub issues for test users.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp

from fedspawner.federation.watch import ResourceWatch
from fedspawner.gateway import kube
from fedspawner.gateway.config import SERVICE_NAME
from fedspawner.jobs.labels import job_selector
from fedspawner.sandbox.federation import member_clusters

from .hub_fixtures import TEST_HUB_PORT
from .json_client import arequest_json, token_headers
from .sandbox_fixtures import TEST_STATE_DIR

GATEWAY = f"http://127.0.0.1:{TEST_HUB_PORT}/services/{SERVICE_NAME}/api/v1"
HUB_STATE = TEST_STATE_DIR.parent / "hub"
PID_FILE = HUB_STATE / "gateway.pid"
FINISHED = ("Succeeded", "Failed")
#: Every resource a job's objects can be, to prove none is left behind.
ALL_RESOURCES = (kube.CONFIGMAPS, kube.SERVICES, kube.PODS, kube.JOBS, *kube.CUSTOM)

#: A 2-node torchrun DDP job (gloo, CPU): every rank all-reduces its rank + 1 and prints the sum
#: (3.0 on two nodes), then reports three steps of progress.
DDP_SCRIPT = """
import os
import torch
import torch.distributed as dist
from fedspawner_progress import progress

dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
value = torch.tensor([float(rank + 1)])
dist.all_reduce(value)
print(f"rank {rank} of {world}: all-reduced value = {value.item():.1f}", flush=True)
for step in range(1, 4):
    progress(step, 3, loss=1.0 / step)
dist.destroy_process_group()
"""


class Gateway:
    """The gateway's REST API through the hub's proxy.

    Jobs submitted through it are cancelled when the test ends (``cleanup``), pass or fail.
    """

    def __init__(self, session: aiohttp.ClientSession, base: str = GATEWAY):
        self.session = session
        self.base = base
        self.submitted: list[tuple[str, str]] = []  # (token, job id)

    async def call(self, method: str, path: str, token: str | None, body=None, raw: bytes | None = None,
                   timeout: float = 120) -> tuple[int, dict | str]:
        answer = await arequest_json(method, self.base + path, body, token=token, raw=raw, timeout=timeout,
                                     session=self.session)
        return answer.status, answer.body

    async def submit(self, token: str, spec: dict) -> dict:
        status, answer = await self.call("POST", "/jobs", token, spec)
        assert status == 201, answer
        self.submitted.append((token, answer["job"]["id"]))
        return answer["job"]

    async def job(self, token: str, job_id: str) -> dict:
        status, answer = await self.call("GET", f"/jobs/{job_id}", token)
        assert status == 200, answer
        return answer["job"]

    async def wait(self, token: str, job_id: str, phases=FINISHED, timeout: float = 240) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            job = await self.job(token, job_id)
            if job["phase"] in phases:
                return job
            assert time.monotonic() < deadline, f"job {job_id} still {job['phase']}: {job['message']}"
            await asyncio.sleep(1)

    async def lines(self, path: str, token: str, timeout: float = 300) -> AsyncIterator[bytes]:
        """A streamed response, line by line."""
        async with self.session.get(self.base + path, headers=token_headers(token),
                                    timeout=aiohttp.ClientTimeout(total=timeout, sock_read=timeout)) as resp:
            assert resp.status == 200, await resp.text()
            async for line in resp.content:
                yield line

    async def text(self, path: str, token: str) -> str:
        status, answer = await self.call("GET", path, token)
        assert status == 200, answer
        return answer if isinstance(answer, str) else json.dumps(answer)

    async def cancel(self, token: str, job_id: str) -> dict:
        """Cancel a job: answered at once (202) with the job as Cancelled; its objects go in the
        background (``gone`` waits for that)."""
        status, answer = await self.call("DELETE", f"/jobs/{job_id}", token)
        assert status == 202, answer
        return answer["job"]

    async def cleanup(self) -> None:
        """Cancel every job this client submitted that is still there."""
        for token, job_id in self.submitted:
            await self.call("DELETE", f"/jobs/{job_id}", token)
        self.submitted = []


async def wait_healthy(url: str = GATEWAY, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            try:
                async with session.get(url + "/health", timeout=aiohttp.ClientTimeout(total=2)) as resp:
                    if resp.status == 200:
                        return
            except (aiohttp.ClientError, asyncio.TimeoutError):
                pass
            await asyncio.sleep(0.3)
    raise AssertionError(f"the gateway did not answer at {url} within {timeout}s")


@asynccontextmanager
async def gateway_client(url: str) -> AsyncIterator[Gateway]:
    """A client of the gateway at ``url`` once it answers; the jobs it submitted are cancelled on exit."""
    await wait_healthy(url, timeout=120)
    async with aiohttp.ClientSession() as session:
        gateway = Gateway(session, base=url)
        try:
            yield gateway
        finally:
            await gateway.cleanup()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class GatewayReplica:
    """Another gateway process beside the hub-managed one (not managed by the hub), for the sandbox's
    clusters, resolving tokens through the test hub; ``settings`` are more ``c.Gateway`` lines."""

    def __init__(self, state: Path, sandbox_dir: Path, settings: str = ""):
        self.port = free_port()
        self.config = state / "replica_gateway_config.py"
        self.config.write_text(f"c.Federation.clusters = {member_clusters(sandbox_dir)!r}\n"
                               f"c.Gateway.port = {self.port}\nc.Gateway.base_url = '/'\n{settings}")
        self.env = dict(os.environ, JUPYTERHUB_API_URL=f"http://127.0.0.1:{TEST_HUB_PORT + 81}/hub/api",
                        JUPYTERHUB_SERVICE_NAME=SERVICE_NAME)
        self.env.pop("JUPYTERHUB_SERVICE_PREFIX", None)
        self.log_path = state / "replica_gateway.log"
        self.url = f"http://127.0.0.1:{self.port}/api/v1"
        self.process: subprocess.Popen | None = None

    async def start(self) -> None:
        """Start it and wait until it answers."""
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "fedspawner.gateway", "--config", str(self.config), "--log-level", "INFO"],
                env=self.env, stdout=log, stderr=subprocess.STDOUT)
        await wait_healthy(self.url, timeout=60)

    def stop(self) -> None:
        """Stop it as a supervisor would (SIGTERM), killing it if it does not end in 15 s."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


async def leftovers(admin_api, cluster: str, namespace: str, job_id: str) -> list[str]:
    """Every object still carrying the job's id on ``cluster``, listed with the admin credential."""
    found = []
    async with admin_api(cluster) as api:
        for resource in ALL_RESOURCES:
            try:
                items = await kube.list_objects(api, resource, namespace, kube.selector(job_selector(job_id)))
            except Exception:  # noqa: BLE001 - custom resources not installed there
                continue
            found += [f"{resource.kind}/{o['metadata']['name']}" for o in items]
    return found


async def watched(gw, token: str, job_id: str) -> list[dict]:
    """Every view of the job its watch stream sends, until the job has finished."""
    views = []
    async for raw in gw.lines(f"/jobs/{job_id}/watch", token, timeout=300):
        line = json.loads(raw)
        if "job" in line:
            views.append(line["job"])
    return views


def first_line_with(text: str, needle: str) -> str | None:
    return next((line for line in text.splitlines() if needle in line), None)


async def gone(admin_api, cluster: str, namespace: str, job_id: str, timeout: float = 60) -> list[str]:
    """Wait (up to ``timeout``) until no object of the job is left on ``cluster`` (a cancel deletes
    them in the background); what is left (empty once gone)."""
    deadline = time.monotonic() + timeout
    while (left := await leftovers(admin_api, cluster, namespace, job_id)) and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
    return left


async def first_pod_finish(admin_api, cluster: str, namespace: str, job_id: str, seen: dict) -> None:
    """Set ``seen["at"]`` when a pod of the job first finishes, as a raw Kubernetes watch sees it
    (the baseline of "the feed answered within a second"); runs until cancelled."""
    async with admin_api(cluster) as api:
        def on_change(kind: str, obj: dict) -> None:
            phase = (obj.get("status") or {}).get("phase")
            if kind == "MODIFIED" and phase in ("Succeeded", "Failed") and "at" not in seen:
                seen["at"] = time.monotonic()

        watch = ResourceWatch(kube.lister(api, kube.PODS, namespace),
                              label_selector=kube.selector(job_selector(job_id)), on_change=on_change)
        await watch.run()
