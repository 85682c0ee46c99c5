"""Session fixtures handing integration tests the running sandbox federation.

The sandbox starts once per test session (through the real ``fedspawner sandbox``
command) in its own state directory and port range, and is torn down at the end even
when tests fail. Set ``FEDSPAWNER_TEST_KEEP_SANDBOX=1`` to leave it running between
sessions while developing (a running one is then reused).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from kubernetes_asyncio import config

from fedspawner.sandbox.manager import Sandbox

TEST_STATE_DIR = Path(os.environ.get("FEDSPAWNER_TEST_SANDBOX_DIR", "/tmp/fedspawner-test/sandbox"))
TEST_BASE_PORT = int(os.environ.get("FEDSPAWNER_TEST_BASE_PORT", "17400"))
KEEP = os.environ.get("FEDSPAWNER_TEST_KEEP_SANDBOX") == "1"


def fedspawner_cli(*args: str, check: bool = False, timeout: float = 900) -> subprocess.CompletedProcess:
    """Run the real ``fedspawner`` command (as users do) and capture its output."""
    proc = subprocess.run([sys.executable, "-m", "fedspawner.cli", *args], capture_output=True, text=True,
                          timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"fedspawner {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


@dataclass(frozen=True)
class SandboxInfo:
    state_dir: Path
    kubeconfig: Path
    clusters: tuple[str, ...]
    namespace: str
    state: dict

    def pod_ip_prefix(self, cluster: str) -> str:
        return next(c["pod_ip_prefix"] for c in self.state["clusters"] if c["name"] == cluster)


@pytest.fixture(scope="session")
def sandbox() -> SandboxInfo:
    box = Sandbox(TEST_STATE_DIR, log=lambda *_: None)
    reuse = KEEP and box.read_state() and box.read_state().get("ready") and box.running_processes()
    if not reuse:
        fedspawner_cli("sandbox", "--state-dir", str(TEST_STATE_DIR), "down")
        fedspawner_cli("sandbox", "--state-dir", str(TEST_STATE_DIR), "up", "--base-port", str(TEST_BASE_PORT),
                       check=True)
    state = box.read_state()
    try:
        yield SandboxInfo(state_dir=TEST_STATE_DIR, kubeconfig=Path(state["kubeconfig"]),
                          clusters=tuple(c["name"] for c in state["clusters"]), namespace=state["namespace"],
                          state=state)
    finally:
        if not KEEP:
            fedspawner_cli("sandbox", "--state-dir", str(TEST_STATE_DIR), "down")


@asynccontextmanager
async def api_client(kubeconfig: Path, context: str):
    api = await config.new_client_from_config(str(kubeconfig), context=context)
    try:
        yield api
    finally:
        await api.close()


@pytest.fixture
def hub_api(sandbox):
    """``async with hub_api("onprem") as api`` — the namespace-scoped credential."""
    return lambda cluster: api_client(sandbox.kubeconfig, cluster)


@pytest.fixture
def admin_api(sandbox):
    """``async with admin_api("onprem") as api`` — the cluster-admin credential."""
    return lambda cluster: api_client(sandbox.kubeconfig, f"{cluster}-admin")


def load_kubeconfig(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


# ---- a real JupyterHub over the sandbox ---------------------------------------

TEST_HUB_PORT = int(os.environ.get("FEDSPAWNER_TEST_HUB_PORT", "18000"))
TEST_API_TOKEN = "fedspawner-test-admin-token"
HUB_TEST_CONFIG = f"""
# Appended to the demo configuration: an admin service for the tests' REST calls.
def _configured(section, name):
    return list(section[name]) if name in section else []


c.JupyterHub.load_roles = _configured(c.JupyterHub, "load_roles") + [{{
    "name": "test-admin", "services": ["tester"],
    "scopes": ["admin:users", "admin:servers", "admin:groups", "read:users", "servers", "access:servers",
               "tokens", "access:services"]}}]
c.JupyterHub.services = _configured(c.JupyterHub, "services") + [{{"name": "tester", "api_token": "{TEST_API_TOKEN}"}}]
c.JupyterHub.log_level = "DEBUG"
c.JupyterHub.tornado_settings = {{"slow_spawn_timeout": 0}}  # answer spawn requests at once
c.Authenticator.admin_users = {{"admin"}}
c.FederatedKubeSpawner.server_readiness_probe = True  # Ready = the server answers (time to notebook)
# The regional cluster sits next to a data store; a test profile prefers it.
for _entry in c.Federation.clusters:
    if _entry["name"] == "regional":
        _entry["labels"] = {{"data": "regional-store"}}
c.KubeSpawner.profile_list = list(c.KubeSpawner.profile_list) + [
    {{"display_name": "Near the data (test)", "slug": "near-data",
      "clusters": {{"locality": {{"data": "regional-store"}}}},
      "kubespawner_override": {{"cpu_guarantee": 0.1}}}},
    {{"display_name": "Hedged (test)", "slug": "hedged", "hedge": True,
      "clusters": {{"preferred": ["onprem", "burst"]}},
      "kubespawner_override": {{"cpu_guarantee": 0.1}}}},
]
"""


class HubClient:
    """The hub's REST API as the test service (admin scopes)."""

    def __init__(self, hub):
        self.hub = hub

    def request(self, method: str, path: str, body=None, token: str = TEST_API_TOKEN, timeout: float = 60):
        import json
        import urllib.error
        import urllib.request

        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{self.hub.url}/hub/api{path}", method=method, data=data,
                                     headers={"Authorization": f"token {token}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                raw = resp.read()
                return resp.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as err:
            raw = err.read()
            try:
                return err.code, json.loads(raw)
            except ValueError:
                return err.code, raw.decode(errors="replace")


@pytest.fixture(scope="session")
def hub(sandbox):
    """A real JupyterHub process (with configurable-http-proxy) over the sandbox."""
    from fedspawner.demo.runner import prepare_hub

    state = TEST_STATE_DIR.parent / "hub"
    shutil.rmtree(state, ignore_errors=True)
    process = prepare_hub(state, sandbox.state_dir, port=TEST_HUB_PORT, extra_config=HUB_TEST_CONFIG,
                          log=lambda *_: None)
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="session")
def hub_api_client(hub):
    return HubClient(hub)
