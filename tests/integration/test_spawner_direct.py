"""FederatedKubeSpawner driven directly (no hub) against the sandbox: ingress access,
PVCs on the chosen cluster, one spawner object reused across starts."""

from __future__ import annotations

import asyncio

import pytest
from kubernetes_asyncio import client
from traitlets.config import Config

from fedspawner.federation.registry import ClusterRegistry
from fedspawner.sandbox.federation import member_clusters
from fedspawner.spawner.spawner import FederatedKubeSpawner
from fedspawner.spawner.standalone import make_spawner

from .kube_helpers import unique, wait_for

pytestmark = pytest.mark.sandbox
NS = "fedspawner"
INGRESS_HOST = "notebooks.campus.example.org"


@pytest.fixture
async def spawner_config(sandbox):
    c = Config()
    c.Federation.clusters = member_clusters(sandbox.state_dir)
    for entry in c.Federation.clusters:
        if entry["name"] == "onprem":
            entry["access"] = "ingress"
            entry["ingress"] = {"host": INGRESS_HOST, "class_name": "nginx", "tls_secret": "campus-tls"}
    c.KubeSpawner.image = "python:3.11-slim"
    c.KubeSpawner.cmd = ["python", "-m", "http.server", "8888"]
    c.KubeSpawner.start_timeout = 60
    await ClusterRegistry.reset_shared()
    yield c
    await asyncio.wait_for(FederatedKubeSpawner._stop_all_reflectors(), 30)
    await asyncio.wait_for(ClusterRegistry.reset_shared(), 60)


async def test_ingress_access_creates_service_and_ingress_owned_by_the_pod(spawner_config, admin_api):
    name = unique("ing")
    spawner = make_spawner(FederatedKubeSpawner, spawner_config, name, {"cluster": "onprem"})
    url = await spawner.start()
    assert url == f"https://{INGRESS_HOST}"
    async with admin_api("onprem") as api:
        core, net = client.CoreV1Api(api), client.NetworkingV1Api(api)
        ing = await net.read_namespaced_ingress(spawner.pod_name, NS)
        rule = ing.spec.rules[0]
        assert rule.host == INGRESS_HOST and ing.spec.ingress_class_name == "nginx"
        assert rule.http.paths[0].path == f"/user/{name}/"
        assert rule.http.paths[0].backend.service.name == spawner.pod_name
        assert ing.metadata.owner_references[0].kind == "Pod"
        svc = await core.read_namespaced_service(spawner.pod_name, NS)
        assert svc.spec.ports[0].port == 8888
        await spawner.stop(now=True)

        async def gone():
            try:
                await net.read_namespaced_ingress(spawner.pod_name, NS)
                return False
            except client.ApiException as err:
                return err.status == 404

        await wait_for(gone, "the ingress to be garbage-collected with its pod", timeout=60)


async def test_pvc_is_created_and_bound_on_the_chosen_cluster(spawner_config, admin_api):
    spawner_config.KubeSpawner.storage_pvc_ensure = True
    spawner_config.KubeSpawner.storage_capacity = "1Gi"
    spawner_config.KubeSpawner.volumes = [{"name": "home", "persistentVolumeClaim": {"claimName": "{pvc_name}"}}]
    spawner_config.KubeSpawner.volume_mounts = [{"name": "home", "mountPath": "/home/jovyan"}]
    name = unique("pvc")
    spawner = make_spawner(FederatedKubeSpawner, spawner_config, name, {"cluster": "burst"})
    await spawner.start()
    try:
        async with admin_api("burst") as api:
            core = client.CoreV1Api(api)
            pvc = await core.read_namespaced_persistent_volume_claim(spawner.pvc_name, NS)
            assert pvc.status.phase == "Bound"
            pod = await core.read_namespaced_pod(spawner.pod_name, NS)
            assert pod.spec.volumes[0].persistent_volume_claim.claim_name == spawner.pvc_name
        for other in ("onprem", "regional"):
            async with admin_api(other) as api:
                claims = await client.CoreV1Api(api).list_namespaced_persistent_volume_claim(NS)
                assert spawner.pvc_name not in [c.metadata.name for c in claims.items]
        assert spawner.get_state()["pvc_name"] == spawner.pvc_name
    finally:
        await spawner.stop(now=True)


async def test_one_spawner_gpu_then_cpu_carries_no_gpu(spawner_config, admin_api):
    """The same spawner object serves a user's later starts: nothing GPU-ish may leak."""
    spawner = make_spawner(FederatedKubeSpawner, spawner_config, unique("reuse"),
                           {"gpu_type": "nvidia-h100-80gb", "gpu_count": 2})
    await spawner.start()
    assert spawner.cluster_name == "burst"
    async with admin_api("burst") as api:
        pod = await client.CoreV1Api(api).read_namespaced_pod(spawner.pod_name, NS)
        assert pod.spec.containers[0].resources.limits["nvidia.com/gpu"] == "2"
    await spawner.stop(now=True)
    spawner.clear_state()
    spawner.user_options = {"cluster": "burst"}
    await spawner.start()
    try:
        async with admin_api("burst") as api:
            pod = await client.CoreV1Api(api).read_namespaced_pod(spawner.pod_name, NS)
        limits = pod.spec.containers[0].resources.limits or {}
        assert "nvidia.com/gpu" not in limits
        node_affinity = pod.spec.affinity.node_affinity  # only the preference against GPU nodes, nothing required
        assert node_affinity.required_during_scheduling_ignored_during_execution is None
        [avoid] = node_affinity.preferred_during_scheduling_ignored_during_execution
        assert {e.operator for e in avoid.preference.match_expressions} == {"NotIn"}
        assert not any(t.key == "nvidia.com/gpu" for t in pod.spec.tolerations or [])
        assert pod.spec.node_name.startswith("cpu-")
    finally:
        await spawner.stop(now=True)
