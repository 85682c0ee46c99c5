"""A sandbox running Kueue on two clusters, with a hub and its gateway over it (issue 16).

``kueue_federation`` starts the sandbox from ``sandbox/topologies/operators.yaml`` (Kueue on
``training`` and ``analytics``) in ``$FEDSPAWNER_TEST_SANDBOX_DIR-kueue`` with ports from
``FEDSPAWNER_TEST_BASE_PORT`` + 200 and address block ``FEDSPAWNER_TEST_OPERATORS_ADDRESS_BLOCK``,
creates each cluster's queues with the admin credential (as the cluster's admins would), and
runs a JupyterHub with the gateway over it on ``FEDSPAWNER_TEST_HUB_PORT`` - 100. Everything is
torn down at the end; the Kueue operators' logs and the hub's log of the last run are kept in
``$FEDSPAWNER_TEST_SANDBOX_DIR-kueue-logs`` (to read after a failure).

``running_kueue_federation(gateway_config)`` is the same with more gateway settings, for test
modules that need them (each module gets its own sandbox, one after the other).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.rest import ApiException

from fedspawner.gateway.config import SERVICE_NAME
from fedspawner.sandbox import processes
from fedspawner.sandbox.binaries import sources_dir

from .hub_fixtures import TEST_HUB_PORT
from .json_client import request_json
from .sandbox_fixtures import TEST_BASE_PORT, TEST_STATE_DIR, api_client

STATE = TEST_STATE_DIR.with_name(TEST_STATE_DIR.name + "-kueue")
HUB_STATE = TEST_STATE_DIR.with_name(TEST_STATE_DIR.name + "-kueue-hub")
LOGS = TEST_STATE_DIR.with_name(TEST_STATE_DIR.name + "-kueue-logs")
BASE_PORT = TEST_BASE_PORT + 200
HUB_PORT = TEST_HUB_PORT - 100  # its proxy, hub and gateway take port + 1, + 81, + 90
BLOCK = int(os.environ.get("FEDSPAWNER_SANDBOX_ADDRESS_BLOCK", "0") or 0)
OPERATORS_BLOCK = os.environ.get("FEDSPAWNER_TEST_OPERATORS_ADDRESS_BLOCK", str((BLOCK + 3) % 12))
TOPOLOGY = sources_dir() / "topologies" / "operators.yaml"
NS = "fedspawner"
KUEUE = ("kueue.x-k8s.io", "v1beta2")
TOKEN = "kueue-test-admin-token"
GATEWAY_URL = f"http://127.0.0.1:{HUB_PORT}/services/{SERVICE_NAME}/api/v1"
#: The admins' queue names: analytics' users take "research", the group "kq-ghosts" a queue nobody made.
QUEUES = {"analytics": {"kq-ghosts": "nobody-made-this", "*": "research"}}
#: Quota per cluster: training's queue "team" (the only one there, found by listing), analytics' "research".
QUOTA = {"training": ("team", "2"), "analytics": ("research", "4")}

HUB_CONFIG = f"""
c.JupyterHub.load_roles = list(c.JupyterHub.load_roles) + [{{
    "name": "kueue-test-admin", "services": ["tester"],
    "scopes": ["admin:users", "admin:groups", "read:users", "tokens", "access:services"]}}]
c.JupyterHub.services = list(c.JupyterHub.services) + [{{"name": "tester", "api_token": "{TOKEN}"}}]
with open({str(HUB_STATE / "gateway_config.py")!r}, "a") as _gateway:
    _gateway.write("c.Gateway.queues = {QUEUES!r}\\nc.Gateway.failover_grace = 2.0\\n")
"""


def hub_config(gateway_config: str = "") -> str:
    """The hub's extra configuration, with ``gateway_config`` (lines of ``c.Gateway.…``) added."""
    if not gateway_config:
        return HUB_CONFIG
    return HUB_CONFIG + (f"with open({str(HUB_STATE / 'gateway_config.py')!r}, 'a') as _gateway:\n"
                         f"    _gateway.write({gateway_config!r})\n")


def sandbox_cli(*args: str, timeout: float = 1500) -> subprocess.CompletedProcess:
    env = dict(os.environ, FEDSPAWNER_SANDBOX_ADDRESS_BLOCK=OPERATORS_BLOCK)
    return subprocess.run([sys.executable, "-m", "fedspawner.cli", "sandbox", "--state-dir", str(STATE), *args],
                          capture_output=True, text=True, timeout=timeout, env=env)


@dataclass
class KueueFederation:
    state: dict
    hub_url: str

    def admin(self, cluster: str):
        """``async with fed.admin("training") as api`` — the cluster-admin credential."""
        return api_client(Path(self.state["kubeconfig"]), f"{cluster}-admin")

    def hub(self, method: str, path: str, body=None):
        answer = request_json(method, f"{self.hub_url}/hub/api{path}", body, token=TOKEN, timeout=60)
        return answer.status, answer.body

    def token(self, user: str, group: str | None = None) -> str:
        """A fresh API token of ``user`` (created, and put in ``group``, if needed)."""
        status, _ = self.hub("POST", f"/users/{user}")
        assert status in (201, 409), status
        if group:
            status, _ = self.hub("POST", f"/groups/{group}")
            assert status in (201, 409), status
            status, _ = self.hub("POST", f"/groups/{group}/users", {"users": [user]})
            assert status == 200, status
        status, answer = self.hub("POST", f"/users/{user}/tokens", {"note": "kueue tests"})
        assert status in (200, 201), answer
        return answer["token"]

    def kueue_pid(self, cluster: str) -> int:
        return next(p["pid"] for p in self.state["processes"]
                    if p["cluster"] == cluster and p["component"] == "operator-kueue")


async def create_queues(fed: KueueFederation) -> None:
    """A ResourceFlavor, a ClusterQueue with cpu/memory quota and one LocalQueue per cluster."""
    for cluster, (queue, cpu) in QUOTA.items():
        docs = [("resourceflavors", None, {"kind": "ResourceFlavor", "metadata": {"name": "default-flavor"}}),
                ("clusterqueues", None, {"kind": "ClusterQueue", "metadata": {"name": f"{queue}-cq"}, "spec": {
                    "namespaceSelector": {},
                    "resourceGroups": [{"coveredResources": ["cpu", "memory"], "flavors": [{
                        "name": "default-flavor", "resources": [{"name": "cpu", "nominalQuota": cpu},
                                                                {"name": "memory", "nominalQuota": "8Gi"}]}]}]}}),
                ("localqueues", NS, {"kind": "LocalQueue", "metadata": {"name": queue, "namespace": NS},
                                     "spec": {"clusterQueue": f"{queue}-cq"}})]
        async with fed.admin(cluster) as api:
            objs = client.CustomObjectsApi(api)
            for plural, ns, body in docs:
                body = {"apiVersion": "/".join(KUEUE), **body}
                if ns:
                    await until_webhook(lambda: objs.create_namespaced_custom_object(*KUEUE, ns, plural, body))
                else:
                    await until_webhook(lambda: objs.create_cluster_custom_object(*KUEUE, plural, body))


async def until_webhook(create, timeout: float = 60.0):
    """``create()``, again while Kueue's webhook does not answer yet (on a busy machine it starts
    listening a little after the sandbox reports Kueue ready)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await create()
        except ApiException as err:
            if err.status != 500 or "failed calling webhook" not in str(err.body) or time.monotonic() > deadline:
                raise
        await asyncio.sleep(1)


def keep_logs() -> None:
    """Copy the Kueue operators' logs and the hub's log to ``LOGS`` (the sandbox's own go with it)."""
    shutil.rmtree(LOGS, ignore_errors=True)
    LOGS.mkdir(parents=True, exist_ok=True)
    try:
        records = json.loads((STATE / "sandbox.json").read_text())["processes"]
    except (OSError, ValueError, KeyError):
        records = []
    for record in records:
        if "kueue" in record.get("component", "") and Path(record.get("log", "")).is_file():
            shutil.copy(record["log"], LOGS / f"{record['cluster']}-{record['component']}.log")
    if (HUB_STATE / "jupyterhub.log").is_file():
        shutil.copy(HUB_STATE / "jupyterhub.log", LOGS / "jupyterhub.log")


@asynccontextmanager
async def running_kueue_federation(gateway_config: str = ""):
    """The sandbox with Kueue on two clusters, their queues and a hub whose gateway also has
    ``gateway_config`` (lines of ``c.Gateway.… = …``); torn down on exit."""
    from fedspawner.demo.runner import prepare_hub

    sandbox_cli("down")
    up = sandbox_cli("up", "--topology", str(TOPOLOGY), "--base-port", str(BASE_PORT))
    hub = None
    try:
        assert up.returncode == 0, f"sandbox up failed:\n{up.stdout}\n{up.stderr}"
        state = json.loads((STATE / "sandbox.json").read_text())
        shutil.rmtree(HUB_STATE, ignore_errors=True)
        hub = prepare_hub(HUB_STATE, STATE, port=HUB_PORT, extra_config=hub_config(gateway_config),
                          log=lambda *_: None)
        fed = KueueFederation(state=state, hub_url=hub.url)
        await create_queues(fed)
        hub.start()
        yield fed
    finally:
        if hub is not None:
            hub.stop()
        keep_logs()
        sandbox_cli("down")
        assert processes.marked_processes(STATE) == []


@pytest.fixture(scope="module")
async def kueue_federation():
    async with running_kueue_federation() as fed:
        yield fed
