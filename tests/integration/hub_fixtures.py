"""Fixtures for a real JupyterHub (with configurable-http-proxy) over the sandbox federation.

The hub runs the demo's configuration plus an admin service whose token the tests use for the
hub's REST API (``hub_api_client``). Loaded as a plug-in by ``tests/conftest.py``.
"""

from __future__ import annotations

import os
import shutil

import pytest

from .json_client import request_json
from .sandbox_fixtures import TEST_STATE_DIR

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
        answer = request_json(method, f"{self.hub.url}/hub/api{path}", body, token=token, timeout=timeout)
        return answer.status, answer.body


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
