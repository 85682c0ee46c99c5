"""The Lab server extension in real ``jupyter server`` processes, forwarding to the real gateway.

Each server runs as a hub-spawned one would: under ``/user/<name>/``, with that user's
JupyterHub token in ``JUPYTERHUB_API_TOKEN`` and the hub's URLs in its environment, the
extension enabled by the package's own ``jupyter_server_config.d`` file. Others run with a
gateway that is down, and with no hub at all.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import aiohttp
import pytest

from .hub_fixtures import TEST_HUB_PORT
from .json_client import arequest_json
from .sandbox_fixtures import TEST_STATE_DIR
from .spawn_helpers import spawn, stop, user_token
from .test_gateway_support import first_pod_finish

pytestmark = pytest.mark.sandbox

ORIGIN = {"path": "experiments/train.ipynb", "cell": "5b0c1a7e-3f"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LabServer:
    """A ``jupyter server`` process and a client of its fedspawner routes."""

    def __init__(self, root: Path, base_url: str, env: dict[str, str]):
        self.port, self.token, self.base_url = free_port(), secrets.token_hex(16), base_url
        self.url = f"http://127.0.0.1:{self.port}{base_url}fedspawner/"
        self.log = open(root / f"server-{self.port}.log", "wb")
        clean = {k: v for k, v in os.environ.items()
                 if not k.startswith(("JUPYTERHUB_", "FEDSPAWNER_GATEWAY"))}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "jupyter_server", "--no-browser", "--ip=127.0.0.1", f"--port={self.port}",
             "--allow-root", "--ServerApp.port_retries=0", f"--ServerApp.base_url={base_url}",
             f"--ServerApp.root_dir={root}", f"--IdentityProvider.token={self.token}"],
            env={**clean, **env, "JUPYTER_CONFIG_DIR": str(root / "config")}, stdout=self.log,
            stderr=subprocess.STDOUT)

    async def ready(self, timeout: float = 240) -> None:  # generous: a loaded machine starts Jupyter slowly
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                assert self.process.poll() is None, "the jupyter server exited; see its log"
                try:
                    async with session.get(f"http://127.0.0.1:{self.port}{self.base_url}api/status",
                                           headers={"Authorization": f"token {self.token}"}) as resp:
                        if resp.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.3)
        raise AssertionError("the jupyter server did not start")

    async def call(self, method: str, path: str, body=None, raw: bytes | None = None, auth: bool = True,
                   timeout: float = 60) -> tuple[int, dict | str, dict]:
        answer = await arequest_json(method, self.url + path, body, token=self.token if auth else None, raw=raw,
                                     timeout=timeout)
        return answer.status, answer.body, answer.headers

    async def ok(self, method: str, path: str, body=None, status: int = 200, timeout: float = 60) -> dict:
        got, answer, _ = await self.call(method, path, body, timeout=timeout)
        assert got == status, (method, path, got, answer)
        return answer

    def stop(self) -> None:
        self.process.terminate()  # at once, if not told before (servers stopped together take one wait)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


@contextmanager
def lab_servers(**specs: tuple[Path, str, dict[str, str]]):
    """Servers by name from (root, base URL, environment); stopped together."""
    servers = {}
    try:
        for name, (root, base_url, env) in specs.items():
            root.mkdir(parents=True, exist_ok=True)
            servers[name] = LabServer(root, base_url, env)
        yield servers
    finally:
        for server in servers.values():
            server.process.terminate()
        for server in servers.values():
            server.stop()


def hub_env(token: str) -> dict[str, str]:
    """What a hub-spawned server's environment tells the extension: the hub's URLs and the user's token."""
    return {"JUPYTERHUB_API_TOKEN": token, "JUPYTERHUB_API_URL": f"http://127.0.0.1:{TEST_HUB_PORT}/hub/api",
            "JUPYTERHUB_BASE_URL": "/"}


@pytest.fixture(scope="module")
async def labs(gateway_up, token_for):
    """alice's and bob's servers (hub-spawned style), one with the gateway down, one without a hub.

    Their files live next to the sandbox's (pytest's shared temporary root may be pruned by other
    sessions while they run)."""
    root = TEST_STATE_DIR.parent / "lab-servers"
    shutil.rmtree(root, ignore_errors=True)
    dead = f"http://127.0.0.1:{free_port()}/services/fedspawner-gateway/"
    with lab_servers(alice=(root / "alice", "/user/alice/", hub_env(token_for("alice"))),
                     bob=(root / "bob", "/user/bob/", hub_env(token_for("bob"))),
                     down=(root / "down", "/user/carol/",
                           {"FEDSPAWNER_GATEWAY_URL": dead, "JUPYTERHUB_API_TOKEN": token_for("carol")}),
                     plain=(root / "plain", "/", {})) as servers:
        await asyncio.gather(*(s.ready() for s in servers.values()))
        yield servers


def row_of(feed: dict, job_id: str) -> dict | None:
    return next((row for row in feed["jobs"] if row["id"] == job_id), None)


async def feed_until(lab: LabServer, test, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    feed = await lab.ok("GET", "jobs")
    while not test(feed):
        assert time.monotonic() < deadline, feed
        feed = await lab.ok("GET", f"jobs?since={feed['version']}&wait=5")
    return feed


async def test_the_extension_is_enabled_and_ok():
    proc = subprocess.run([sys.executable, "-m", "jupyter", "server", "extension", "list"], capture_output=True,
                          text=True, timeout=120)
    text = " ".join(re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout + proc.stderr).split())
    assert "fedspawner.lab enabled" in text and "fedspawner.lab OK" in text, text


async def test_config_says_who_i_am_and_how_to_configure_a_missing_gateway(labs):
    config = await labs["alice"].ok("GET", "config")
    assert config["configured"] and config["reachable"] and config["user"] == "alice"
    assert config["is_admin"] is False and config["hint"] is None
    assert config["gateway_url"].endswith("/services/fedspawner-gateway/")
    plain = await labs["plain"].ok("GET", "config")
    assert plain["configured"] is False and plain["reachable"] is None
    assert "FEDSPAWNER_GATEWAY_URL" in plain["hint"] and "c.FedspawnerLabApp.gateway_url" in plain["hint"]
    for path in ("clusters", "options", "jobs", "jobs/j-abcd2345"):
        status, answer, _ = await labs["plain"].call("GET", path)
        assert status == 503 and answer["reason"] == "not_configured", (path, answer)
        assert "FEDSPAWNER_GATEWAY_URL" in answer["message"]


async def test_a_gateway_that_is_down_is_a_503_with_a_message(labs):
    config = await labs["down"].ok("GET", "config")
    assert config["configured"] and config["reachable"] is False and "Can't reach" in config["message"]
    for method, path in (("GET", "clusters"), ("GET", "jobs"), ("POST", "jobs"), ("DELETE", "jobs/j-abcd2345")):
        body = {"kind": "job", "script": "x"} if method == "POST" else None
        status, answer, _ = await labs["down"].call(method, path, body)
        assert status == 503 and answer["reason"] == "unreachable", (path, answer)
        assert "Can't reach the fedspawner gateway" in answer["message"]


async def test_every_route_needs_authentication(labs):
    for method, path in (("GET", "config"), ("GET", "clusters"), ("GET", "options"), ("GET", "jobs"),
                         ("POST", "jobs"), ("GET", "jobs/j-abcd2345"), ("DELETE", "jobs/j-abcd2345"),
                         ("GET", "jobs/j-abcd2345/logs?follow=1")):
        status, answer, _ = await labs["alice"].call(method, path, {"kind": "job"}, auth=False)
        assert status == 403, (method, path, status, answer)


async def test_clusters_and_options_come_from_the_gateway(labs, sandbox):
    clusters = await labs["alice"].ok("GET", "clusters")
    assert [c["name"] for c in clusters["clusters"]] == list(sandbox.clusters)
    started = time.monotonic()
    same = await labs["alice"].ok("GET", f"clusters?since={clusters['version']}&wait=1")
    assert time.monotonic() - started >= 0.9 and same["version"] == clusters["version"]
    options = await labs["alice"].ok("GET", "options")
    by_name = {o["name"]: o for o in options["options"]}
    assert by_name["cluster"]["choices"] == ["auto", *sandbox.clusters]
    assert by_name["packages"]["flag"] == "--pip"


@pytest.mark.parametrize("method, path, body, raw, reason, words", [
    ("POST", "jobs", None, b"{not json", "bad_request", "not valid JSON"),
    ("POST", "jobs", {"kind": "pytorchx", "script": "x"}, None, "bad_request", "Did you mean 'pytorch'"),
    ("POST", "jobs", {"kind": "job", "script": "x", "origin": {"path": "../secret"}}, None, "bad_request",
     "without '..'"),
    ("POST", "jobs", {"kind": "job", "script": "x", "privileged": True}, None, "forbidden", "Privileged"),
    ("POST", "jobs", {"kind": "job", "script": "x", "gpus": "nvidia-h100-80gb:16"}, None, "unsatisfiable",
     "largest"),
    ("POST", "jobs/plan", {"kind": "pytorchx", "script": "x"}, None, "bad_request", "Did you mean 'pytorch'"),
    ("GET", "jobs/not-a-job", None, None, "bad_request", "not a job id"),
    ("GET", "jobs/j-aaaaaaaa", None, None, "not_found", "no job j-aaaaaaaa"),
    ("GET", "jobs?since=x&wait=soon", None, None, "bad_request", "'wait' must be a number"),
    ("GET", "jobs?state=sleeping", None, None, "bad_request", "Unknown state"),
    ("GET", "jobs?all=1", None, None, "forbidden", "administrators"),
    ("GET", "jobs/j-aaaaaaaa/logs?rank=-1", None, None, "bad_request", "'rank' must be a whole number"),
    ("GET", "jobs/j-aaaaaaaa/logs?rank=%C2%B2", None, None, "bad_request", "digits 0-9 only), not '²'"),
    ("GET", "jobs/j-aaaaaaaa/logs?tail=%D9%A3", None, None, "bad_request", "'tail' must be a whole number"),
    ("GET", "jobs?state=%00", None, None, "bad_request", "'state' holds control characters"),
    ("GET", "jobs?state=running&state=failed", None, None, "bad_request", "Give 'state' once"),
    ("GET", "jobs?colour=blue", None, None, "bad_request", "Unknown query parameter 'colour'"),
    ("GET", "clusters?since=x&wait=1e3", None, None, "bad_request", "'wait' must be a number of seconds"),
    ("POST", "jobs", None, b"[" * 100_000 + b"]" * 100_000, "bad_request", "more than 32 levels deep"),
    ("POST", "jobs", None, b'{"kind": "job", "script": "x", "nodes": NaN}', "bad_request", "not valid JSON"),
    ("GET", "nowhere", None, None, "not_found", "No such fedspawner route"),
])
async def test_bad_input_is_a_4xx_with_the_reason(labs, method, path, body, raw, reason, words):
    status, answer, _ = await labs["alice"].call(method, path, body, raw=raw)
    assert 400 <= status < 500 and answer["reason"] == reason and words in answer["message"], (status, answer)
    assert set(answer) == {"message", "reason"}


async def test_a_body_over_the_limit_is_a_413_stating_it(labs):
    began = time.monotonic()
    status, answer, _ = await labs["alice"].call("POST", "jobs", raw=b"x" * (20 * 2**20))
    took = time.monotonic() - began
    assert status == 413 and answer["reason"] == "too_large", (status, answer)
    assert "at most 4,194,304 bytes" in answer["message"] and "<" not in answer["message"]
    print(f"20 MiB body refused in {took:.2f}s")


async def test_a_method_a_route_does_not_take_is_a_405_with_allow(labs):
    for method, path, allowed in (("PATCH", "jobs", "GET, POST"), ("PUT", "jobs/j-aaaaaaaa", "GET, DELETE"),
                                  ("POST", "clusters", "GET"), ("DELETE", "jobs/j-aaaaaaaa/logs", "GET"),
                                  ("GET", "jobs/plan", "POST")):
        status, answer, headers = await labs["alice"].call(method, path, {})
        assert status == 405 and answer["reason"] == "method_not_allowed", (method, path, answer)
        assert [m for m in headers["Allow"].split(", ") if m != "OPTIONS"] == allowed.split(", "), headers


async def test_the_dialogs_dry_run_says_where_a_job_would_go_and_creates_nothing(labs):
    alice = labs["alice"]
    before = [row["id"] for row in (await alice.ok("GET", "jobs"))["jobs"]]
    plan = await alice.ok("POST", "jobs/plan", {"kind": "job", "name": "only-a-plan", "script": "print(1)",
                                                "cluster": "onprem"})
    assert plan["cluster"] == "onprem" and plan["candidates"][0]["cluster"] == "onprem", plan
    assert [row["id"] for row in (await alice.ok("GET", "jobs"))["jobs"]] == before


async def test_submit_feed_logs_and_cancel_through_the_extension(labs):
    alice, bob = labs["alice"], labs["bob"]
    script = ("import time\nprint('starting', flush=True)\nfor i in range(4):\n    time.sleep(1)\n"
              "    print('tick', i, flush=True)\n")
    job = (await alice.ok("POST", "jobs", {"kind": "job", "name": "from-lab", "script": script,
                                           "cluster": "onprem", "origin": ORIGIN}, status=201))["job"]
    job_id = job["id"]
    try:
        assert job["origin"] == ORIGIN
        # the log follows from before the pod starts, streaming as the script prints
        status, text, headers = await alice.call("GET", f"jobs/{job_id}/logs?follow=1", timeout=90)
        assert status == 200 and headers["Content-Type"].startswith("text/plain"), text
        assert text.splitlines() == ["starting", "tick 0", "tick 1", "tick 2", "tick 3"]
        feed = await feed_until(alice, lambda f: (row_of(f, job_id) or {}).get("phase") == "Succeeded")
        row = row_of(feed, job_id)
        assert row["origin"] == ORIGIN and row["cluster"] == "onprem" and row["name"] == "from-lab"
        assert row["ranks"] == {"ready": 1, "total": 1} and row["finished"]
        assert row_of(await bob.ok("GET", "jobs"), job_id) is None
        status, answer, _ = await bob.call("GET", f"jobs/{job_id}")
        assert status == 403 and answer["reason"] == "forbidden" and "another user" in answer["message"]
        status, answer, _ = await bob.call("DELETE", f"jobs/{job_id}")
        assert status == 403 and answer["reason"] == "forbidden"
        detail = (await alice.ok("GET", f"jobs/{job_id}"))["job"]
        assert detail["spec"]["script"] == script and detail["spec"]["origin"] == ORIGIN
        assert detail["spec"]["cluster"] == "onprem"
        status, text, headers = await alice.call("GET", f"jobs/{job_id}/logs?download=1&rank=0")
        assert status == 200 and "tick 3" in text
        assert headers["Content-Disposition"] == f'attachment; filename="from-lab-{job_id}-rank0.log"'
        cancelled = (await alice.ok("DELETE", f"jobs/{job_id}", status=202))["job"]
        assert cancelled["phase"] == "Cancelled" and cancelled["message"].startswith("cancelling: ")
        assert row_of(await alice.ok("GET", "jobs"), job_id) is None  # left out of lists at once
        deadline = time.monotonic() + 60
        while (status := (await alice.call("GET", f"jobs/{job_id}"))[0]) == 200:  # Cancelled, going
            assert time.monotonic() < deadline
            await asyncio.sleep(0.5)
        assert status == 404
    finally:
        await alice.call("DELETE", f"jobs/{job_id}")


async def test_the_long_poll_answers_within_a_second_of_a_pod_changing(labs, sandbox, admin_api):
    alice = labs["alice"]
    job = (await alice.ok("POST", "jobs", {"kind": "job", "script": "import time\ntime.sleep(4)\n",
                                           "cluster": "onprem"}, status=201))["job"]
    try:
        running = await feed_until(alice, lambda f: (row_of(f, job["id"]) or {}).get("phase") == "Running")
        seen: dict = {}
        watcher = asyncio.create_task(first_pod_finish(admin_api, "onprem", sandbox.namespace, job["id"], seen))
        try:
            changed = await alice.ok("GET", f"jobs?since={running['version']}&wait=25")
            answered = time.monotonic()
            for _ in range(30):
                if "at" in seen:
                    break
                await asyncio.sleep(0.1)
        finally:
            watcher.cancel()
        assert changed["version"] != running["version"] and "at" in seen
        assert answered - seen["at"] <= 1.0, f"answered {answered - seen['at']:.2f}s after the pod finished"
    finally:
        await alice.call("DELETE", f"jobs/{job['id']}")


async def test_a_follow_stops_when_the_browser_leaves(labs):
    """The browser leaves while the rank still runs (long after): the relay stops, the server is fine.

    The rank prints at once: the hub's proxy passes the answer's headers on with its first byte."""
    alice = labs["alice"]
    script = "import time\nprint('started', flush=True)\ntime.sleep(300)\n"
    job = (await alice.ok("POST", "jobs", {"kind": "job", "script": script, "cluster": "onprem"},
                          status=201))["job"]
    try:
        async with aiohttp.ClientSession() as session:
            url = alice.url + f"jobs/{job['id']}/logs?follow=1"
            async with session.get(url, headers={"Authorization": f"token {alice.token}"},
                                   timeout=aiohttp.ClientTimeout(total=120)) as resp:
                assert resp.status == 200, await resp.text()
                assert b"started" in await resp.content.readuntil(b"\n")  # streaming: the browser leaves now
            assert (await alice.ok("GET", f"jobs/{job['id']}"))["job"]["phase"] == "Running"
        # the server is still fine afterwards
        assert (await alice.ok("GET", "config"))["reachable"]
    finally:
        await alice.call("DELETE", f"jobs/{job['id']}")


async def test_a_server_the_hub_spawns_serves_the_extension(hub_api_client, gateway_up):
    """A real single-user server (a pod on a member cluster) loads the extension from the package's
    config and reaches the gateway with its own token, under /user/<name>/."""
    api, user = hub_api_client, f"lab-{uuid.uuid4().hex[:6]}"
    model = spawn(api, user, {"profile": "cpu", "cluster": "onprem"})
    assert model.get("ready"), model
    try:
        token = user_token(api, user)
        config = await arequest_json("GET", f"{api.hub.url}/user/{user}/fedspawner/config", token=token)
        assert config.status == 200, config.body
        feed = await arequest_json("GET", f"{api.hub.url}/user/{user}/fedspawner/jobs", token=token)
        assert feed.status == 200, feed.body
        config, feed = config.body, feed.body
        assert config["configured"] and config["reachable"] and config["user"] == user, config
        assert feed["jobs"] == [] and "version" in feed
    finally:
        stop(api, user)
