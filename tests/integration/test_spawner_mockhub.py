"""FederatedKubeSpawner inside JupyterHub's MockHub (in-process hub, real sandbox clusters):
the spawner state a hub stores carries the cluster, and a fresh spawner built from that
state finds and stops the server there."""

from __future__ import annotations

import pytest
from jupyterhub.tests.utils import add_user
from kubernetes_asyncio import client

from fedspawner.demo.tools import ensure_chp
from fedspawner.federation.registry import ClusterRegistry
from fedspawner.sandbox.federation import member_clusters
from fedspawner.spawner.spawner import FederatedKubeSpawner

from .kube_helpers import unique

pytestmark = pytest.mark.sandbox


@pytest.fixture
async def mockhub(hub_app, sandbox):
    await ClusterRegistry.reset_shared()
    app = await hub_app({
        "JupyterHub": {"spawner_class": FederatedKubeSpawner},
        "ConfigurableHTTPProxy": {"command": [str(ensure_chp(log=lambda *_: None))]},
        "Federation": {"clusters": member_clusters(sandbox.state_dir)},
        "KubeSpawner": {"cmd": ["jupyterhub-singleuser"], "image": "quay.io/jupyter/base-notebook:2025-01-13",
                        "start_timeout": 60, "http_timeout": 60},
    })
    yield app
    await FederatedKubeSpawner._stop_all_reflectors()
    await ClusterRegistry.reset_shared()


async def test_state_round_trip_through_the_hub_database(mockhub, admin_api):
    user = add_user(mockhub.db, mockhub, name=unique("mock"))
    await user.spawn("", options={"gpu_type": "nvidia-l4", "gpu_count": 1})
    spawner = user.spawners[""]
    assert spawner.cluster_name == "regional"
    stored = user.orm_user.orm_spawners[""].state
    assert stored["cluster"] == "regional" and stored["pod_name"] == spawner.pod_name

    # What a restarted hub does: a new spawner object from the stored state.
    fresh = FederatedKubeSpawner(user=spawner.user, hub=spawner.hub, config=spawner.config,
                                 orm_spawner=spawner.orm_spawner)
    fresh.load_state(stored)
    assert fresh.cluster_name == "regional" and await fresh.poll() is None
    await user.stop("")
    async with admin_api("regional") as api:
        pods = await client.CoreV1Api(api).list_namespaced_pod(
            "fedspawner", field_selector=f"metadata.name={spawner.pod_name}")
        assert all(p.metadata.deletion_timestamp for p in pods.items)
