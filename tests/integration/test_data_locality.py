"""Data locality against the sandbox: a server whose profile reads a protected dataset and a job
asking for it start only on the cluster that holds it; naming another cluster is refused."""

from __future__ import annotations

import pytest

from fedspawner.federation.registry import ClusterRegistry
from fedspawner.gateway.cancel import delete_job
from fedspawner.gateway.config import Gateway
from fedspawner.gateway.discovery import BackendDiscovery
from fedspawner.gateway.errors import Unsatisfiable
from fedspawner.gateway.store import JobStore
from fedspawner.gateway.submit import Submitter
from fedspawner.spawner.spawner import FederatedKubeSpawner
from fedspawner.spawner.standalone import make_spawner

from .direct_spawner import direct_spawner_config
from .kube_helpers import unique

pytestmark = pytest.mark.sandbox


@pytest.fixture
async def data_config(sandbox):
    profiles = [{"slug": "clinical", "display_name": "Clinical", "dataset": "patients-2026"}]
    async with direct_spawner_config(sandbox, profile_list=profiles) as c:
        for entry in c.Federation.clusters:
            if entry["name"] == "regional":
                entry["datasets"] = {"patients-2026": {"protected": True}}
        yield c


async def test_protected_data_keeps_servers_and_jobs_on_its_cluster(data_config):
    spawner = make_spawner(FederatedKubeSpawner, data_config, unique("data"), {"profile": "clinical"})
    await spawner.start()
    registry = ClusterRegistry.shared(data_config)
    store = JobStore(registry, BackendDiscovery(registry.api))
    submitter = Submitter(registry, store.discovery, Gateway())
    try:
        assert spawner.cluster_name == "regional"
        assert any("holds the dataset patients-2026" in step for step in spawner._narration)
        body = {"kind": "job", "script": "print(1)", "image": "python:3.11-slim", "dataset": "patients-2026"}
        job = await submitter.submit("alice", frozenset(), body)
        try:
            assert job.cluster == "regional"
        finally:
            await delete_job(store, await store.get(job.job_id), timeout=60)
        with pytest.raises(Unsatisfiable) as refused:
            await submitter.submit("alice", frozenset(), {**body, "cluster": "onprem"})
        assert "onprem: the dataset patients-2026 is protected and never leaves regional" in refused.value.message
    finally:
        await spawner.stop(now=True)
