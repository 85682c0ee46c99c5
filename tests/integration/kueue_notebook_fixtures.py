"""A hub whose notebook servers queue through Kueue on one cluster (issue 16 §1, opt-in per cluster).

``kueue_notebook_hub`` starts the Kueue sandbox of ``kueue_fixtures`` (Kueue on ``training``,
LocalQueue ``team`` with 2 cpu; on ``analytics``, ``research`` with 4 cpu) and a JupyterHub over
it whose spawner opts ``training`` in (``kueue_queues = {"training": True}``: the queue found
there) and leaves ``analytics`` out. Profiles: ``queued`` prefers training then analytics;
``patient`` runs on training only and waits up to 90 s in its queue (a profile override);
``ghost-queue`` names a queue nobody made (a profile override of the setting). The hub's
``tester`` service has the tests' admin token, so ``spawn_helpers`` work against it.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass

import pytest

from fedspawner.sandbox import processes

from .hub_fixtures import TEST_API_TOKEN, HubClient
from .sandbox_fixtures import KEEP
from .kueue_fixtures import BASE_PORT, HUB_PORT, STATE, TOPOLOGY, KueueFederation, create_queues, sandbox_cli

HUB_STATE = STATE.with_name(STATE.name + "-notebook-hub")
#: Seconds a server waits in a queue before its start moves on (kept small: the tests wait it out).
WINDOW = 6

HUB_CONFIG = f"""
c.JupyterHub.load_roles = list(c.JupyterHub.load_roles) + [{{
    "name": "kueue-notebook-tester", "services": ["tester"],
    "scopes": ["admin:users", "admin:servers", "read:users", "servers", "access:servers", "tokens"]}}]
c.JupyterHub.services = list(c.JupyterHub.services) + [{{"name": "tester", "api_token": "{TEST_API_TOKEN}"}}]
c.JupyterHub.tornado_settings = {{"slow_spawn_timeout": 0}}  # answer spawn requests at once
c.FederatedKubeSpawner.kueue_queues = {{"training": True}}
c.FederatedKubeSpawner.kueue_admission_window = {WINDOW}
c.KubeSpawner.profile_list = [
    {{"display_name": "Queued (test)", "slug": "queued", "default": True,
      "clusters": {{"preferred": ["training", "analytics"]}},
      "kubespawner_override": {{"cpu_guarantee": 0.5}}}},
    {{"display_name": "Waits in training's queue (test)", "slug": "patient", "clusters": {{"allowed": ["training"]}},
      "kubespawner_override": {{"cpu_guarantee": 0.5, "kueue_admission_window": 90}}}},
    {{"display_name": "A queue nobody made (test)", "slug": "ghost-queue",
      "kubespawner_override": {{"cpu_guarantee": 0.5, "kueue_queues": {{"training": "nobody-made-this"}}}}}},
]
"""


@dataclass
class KueueNotebookHub:
    fed: KueueFederation
    api: HubClient


@pytest.fixture(scope="module")
async def kueue_notebook_hub():
    from fedspawner.demo.runner import prepare_hub

    reuse = KEEP and (STATE / "sandbox.json").exists()  # FEDSPAWNER_TEST_KEEP_SANDBOX=1, while developing
    if not reuse:
        sandbox_cli("down")
        up = sandbox_cli("up", "--topology", str(TOPOLOGY), "--base-port", str(BASE_PORT))
    hub = None
    try:
        assert reuse or up.returncode == 0, f"sandbox up failed:\n{up.stdout}\n{up.stderr}"
        fed = KueueFederation(state=json.loads((STATE / "sandbox.json").read_text()), hub_url="")
        shutil.rmtree(HUB_STATE, ignore_errors=True)
        hub = prepare_hub(HUB_STATE, STATE, port=HUB_PORT, extra_config=HUB_CONFIG, log=lambda *_: None)
        fed.hub_url = hub.url
        if not reuse:
            await create_queues(fed)
        hub.start()
        yield KueueNotebookHub(fed=fed, api=HubClient(hub))
    finally:
        if hub is not None:
            hub.stop()
        if not KEEP:
            sandbox_cli("down")
            assert processes.marked_processes(STATE) == []
