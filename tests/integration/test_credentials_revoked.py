"""A member cluster that holds no job yet, and one whose RoleBinding for the hub goes away for a while,
against the sandbox's real apiservers: the jobs index syncs at once on a fresh gateway, a cluster that
cannot sync says why and recovers by itself, health means "the hub's credential may act here", and the
hub's pod reflector watches again once the rights are back."""

from __future__ import annotations

import pytest
from kubernetes_asyncio import client

from fedspawner.gateway.discovery import BackendDiscovery
from fedspawner.gateway.index import JobIndex
from fedspawner.gateway.store import JobStore
from fedspawner.jobs.labels import LABEL_JOB_ID, LABEL_MANAGED_BY, LABEL_OWNER, MANAGED_BY, owner_label_value
from fedspawner.spawner.reflectors import ClusterPodReflector

from .sandbox_fixtures import api_client
from .credentials_fixtures import until
from .sandbox_fixtures import registry_for
from .kube_helpers import pod_manifest, unique

pytestmark = pytest.mark.sandbox


def anchor(job_id: str, owner: str = "alice") -> dict:
    """A ConfigMap labelled as a job's anchor (what the index lists first for a job)."""
    return {"metadata": {"name": f"{job_id}-anchor", "labels": {
        LABEL_MANAGED_BY: MANAGED_BY, LABEL_JOB_ID: job_id, LABEL_OWNER: owner_label_value(owner)}}}


class Index:
    """A ``JobIndex`` as the gateway runs it, over ``registry``."""

    def __init__(self, registry):
        self.index = JobIndex(registry, JobStore(registry, BackendDiscovery(registry.api)))

    async def __aenter__(self) -> JobIndex:
        self.index.start()
        return self.index

    async def __aexit__(self, *exc) -> None:
        await self.index.stop()


async def test_clusters_without_any_job_sync_on_a_fresh_gateway(grants, sandbox):
    async with registry_for(grants.members()) as registry, Index(registry) as index:
        await registry.wait_ready(grace=10)
        for cluster in sandbox.clusters:
            assert await index.until_synced(cluster, 20), index.sync_problem(cluster)
        jobs, skipped = index.jobs(None)
        assert jobs == [] and skipped == []


async def test_a_cluster_that_cannot_list_says_why_and_recovers_by_itself(grants, sandbox):
    cluster = sandbox.clusters[0]
    await grants.revoke(cluster)
    async with registry_for(grants.members()) as registry, Index(registry) as index:
        inventory = registry.inventories[cluster]
        await until(lambda: "may not list pods" in inventory.health_reason, 10, "health names the credential")
        assert not inventory.healthy and grants.namespace in inventory.health_reason
        await until(lambda: "forbidden" in index.sync_problem(cluster), 20, "the index says why")
        assert index.sync_problem(cluster).startswith("cannot list its jobs (")
        assert not index.synced(cluster)
        for other in sandbox.clusters[1:]:
            assert await index.until_synced(other, 20), index.sync_problem(other)

        await grants.restore(cluster)
        async with api_client(sandbox.kubeconfig, cluster) as api:
            await client.CoreV1Api(api).create_namespaced_config_map(grants.namespace, anchor("j-backaaaa"))
        await until(lambda: inventory.healthy, 10, "healthy again")
        await until(lambda: index.has(cluster, "j-backaaaa"), 30, "the index watches the cluster again")
        assert index.synced(cluster) and index.sync_problem(cluster) == "still listing its jobs"
        jobs, skipped = index.jobs(None)
        assert [job.job_id for job in jobs] == ["j-backaaaa"] and skipped == []


async def test_health_follows_the_credential_not_just_the_apiserver(grants, sandbox):
    cluster = sandbox.clusters[-1]
    async with registry_for(grants.members()) as registry:
        inventory = registry.inventories[cluster]
        await until(lambda: inventory.healthy, 10, "healthy at first")
        await grants.revoke(cluster)
        took = await until(lambda: not inventory.healthy, 10, "down once the RoleBinding is gone")
        assert took < 5, took
        view = next(c for c in registry.snapshot().clusters if c.name == cluster)
        assert not view.healthy and "the hub's credential may not list pods" in view.health_reason
        await grants.restore(cluster)
        await until(lambda: inventory.healthy, 10, "healthy once it is back")


async def test_the_pod_reflector_watches_again_after_a_long_revocation(grants, sandbox):
    cluster = sandbox.clusters[0]
    async with api_client(sandbox.kubeconfig, cluster) as api:
        reflector = ClusterPodReflector(api_client=api, cluster=cluster, namespace=grants.namespace,
                                        labels={"component": "fs-reflector-test"})
        await reflector.start()
        try:
            await grants.revoke(cluster)
            # KubeSpawner's own loop gives up after ~51 s of failures (its task ends); ours starts over
            await until(lambda: getattr(reflector, "restarts", 0) >= 1 or reflector.watch_task.done(), 90,
                        "the reflector gave up once")
            await grants.restore(cluster)
            name = unique("refl")
            await client.CoreV1Api(api).create_namespaced_pod(
                grants.namespace, pod_manifest(name, ["sleep", "1"], labels={"component": "fs-reflector-test"}))
            await until(lambda: f"{grants.namespace}/{name}" in reflector.resources, 30, "the new pod is seen")
        finally:
            await reflector.stop()
        assert not reflector.watch_task
