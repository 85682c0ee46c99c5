"""Fixtures handing integration tests the running sandbox federation and its credentials.

The sandbox starts once per test session (through the real ``fedspawner sandbox``
command) in its own state directory and port range, and is torn down at the end even
when tests fail. Set ``FEDSPAWNER_TEST_KEEP_SANDBOX=1`` to leave it running between
sessions while developing (a running one is then reused). Loaded as a plug-in by
``tests/conftest.py``.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from kubernetes_asyncio import config
from traitlets.config import Config

from fedspawner.federation.config import Federation
from fedspawner.federation.registry import ClusterRegistry
from fedspawner.sandbox.federation import member_clusters
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


@asynccontextmanager
async def registry_for(members: list[dict]):
    """A started ``ClusterRegistry`` over ``members`` (member-cluster entries), stopped on exit."""
    c = Config()
    c.Federation.clusters = members
    reg = ClusterRegistry(Federation(config=c))
    await reg.start()
    try:
        yield reg
    finally:
        await reg.stop()


async def until_healthy(reg: ClusterRegistry, *clusters: str, timeout: float = 60) -> None:
    """Wait until the registry's health probes passed on ``clusters`` (inventories may load
    before the first probe answers on a loaded machine)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        health = {c.name: c.healthy for c in reg.snapshot().clusters}
        left = deadline - asyncio.get_running_loop().time()
        if all(health.get(name) for name in clusters):
            return
        if left <= 0:
            raise AssertionError(f"clusters not healthy after {timeout:.0f} s: {health}")
        await reg.wait_for_change(reg.version, min(left, 1.0))


@pytest.fixture
async def registry(sandbox):
    """The federation core over the sandbox's clusters (the hub's credentials), ready."""
    async with registry_for(member_clusters(sandbox.state_dir)) as reg:
        await reg.wait_ready()
        yield reg


def load_kubeconfig(path: Path) -> dict:
    return yaml.safe_load(path.read_text())
