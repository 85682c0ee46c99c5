"""A sandbox whose cluster ``dispatch`` is a MultiKueue manager for the worker ``batch-a``, with a
hub and its gateway over both (issue 16 §5).

``multikueue_federation`` starts ``sandbox/topologies/multikueue.yaml`` in
``$FEDSPAWNER_TEST_SANDBOX_DIR-multikueue`` with ports from ``FEDSPAWNER_TEST_BASE_PORT`` + 400
(address block ``FEDSPAWNER_TEST_OPERATORS_ADDRESS_BLOCK``; it never runs beside the Kueue
fixture's sandbox, which uses the same block) — ``sandbox up`` itself sets MultiKueue up — and
runs a JupyterHub with the gateway on ``FEDSPAWNER_TEST_BASE_PORT`` + 300. Torn down at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from fedspawner.gateway.config import SERVICE_NAME
from fedspawner.sandbox import processes
from fedspawner.sandbox.binaries import sources_dir

from .kueue_fixtures import OPERATORS_BLOCK, KueueFederation
from .sandbox_fixtures import TEST_BASE_PORT, TEST_STATE_DIR

STATE = TEST_STATE_DIR.with_name(TEST_STATE_DIR.name + "-multikueue")
HUB_STATE = TEST_STATE_DIR.with_name(TEST_STATE_DIR.name + "-multikueue-hub")
BASE_PORT = TEST_BASE_PORT + 400
# Its proxy, hub and gateway take port + 1, + 81, + 90: the hundred ports between the Kueue sandbox's
# (base + 200) and this sandbox's (base + 400), which no other sandbox or hub of the tests uses.
HUB_PORT = TEST_BASE_PORT + 300
TOPOLOGY = sources_dir() / "topologies" / "multikueue.yaml"
MANAGER, WORKER, QUEUE = "dispatch", "batch-a", "shared"
TOKEN = "multikueue-test-admin-token"
GATEWAY_URL = f"http://127.0.0.1:{HUB_PORT}/services/{SERVICE_NAME}/api/v1"

HUB_CONFIG = f"""
c.JupyterHub.load_roles = list(c.JupyterHub.load_roles) + [{{
    "name": "multikueue-test-admin", "services": ["tester"],
    "scopes": ["admin:users", "admin:groups", "read:users", "tokens", "access:services"]}}]
c.JupyterHub.services = list(c.JupyterHub.services) + [{{"name": "tester", "api_token": "{TOKEN}"}}]
"""


def sandbox_cli(*args: str, timeout: float = 1500) -> subprocess.CompletedProcess:
    env = dict(os.environ, FEDSPAWNER_SANDBOX_ADDRESS_BLOCK=OPERATORS_BLOCK)
    return subprocess.run([sys.executable, "-m", "fedspawner.cli", "sandbox", "--state-dir", str(STATE), *args],
                          capture_output=True, text=True, timeout=timeout, env=env)


class MultiKueueFederation(KueueFederation):
    """The Kueue fixture's helpers (admin contexts, hub tokens) over this sandbox and hub."""

    def hub(self, method: str, path: str, body=None):
        from .json_client import request_json

        answer = request_json(method, f"{self.hub_url}/hub/api{path}", body, token=TOKEN, timeout=60)
        return answer.status, answer.body


@pytest.fixture(scope="module")
async def multikueue_federation():
    from fedspawner.demo.runner import prepare_hub

    sandbox_cli("down")
    up = sandbox_cli("up", "--topology", str(TOPOLOGY), "--base-port", str(BASE_PORT))
    hub = None
    try:
        assert up.returncode == 0, f"sandbox up failed:\n{up.stdout}\n{up.stderr}"
        state = json.loads((STATE / "sandbox.json").read_text())
        shutil.rmtree(HUB_STATE, ignore_errors=True)
        hub = prepare_hub(HUB_STATE, STATE, port=HUB_PORT, extra_config=HUB_CONFIG, log=lambda *_: None)
        fed = MultiKueueFederation(state=state, hub_url=hub.url)
        hub.start()
        yield fed
    finally:
        if hub is not None:
            hub.stop()
        if not os.environ.get("FEDSPAWNER_TEST_KEEP_SANDBOX"):
            sandbox_cli("down")
            assert processes.marked_processes(STATE) == []
