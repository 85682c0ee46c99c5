"""Every sandbox cluster is a real Kubernetes control plane with the credentials and
GPU nodes the topology describes (issue: sandbox §3.1, §3.2)."""

from __future__ import annotations

import pytest
from kubernetes_asyncio import client

from .kube_helpers import events_for, pod_manifest, unique, wait_for, wait_for_phase

pytestmark = pytest.mark.sandbox


async def test_every_cluster_answers_with_its_nodes(sandbox, admin_api):
    assert sandbox.clusters == ("onprem", "regional", "burst")
    for cluster in sandbox.clusters:
        async with admin_api(cluster) as api:
            version = await client.VersionApi(api).get_code()
            assert version.git_version == "v1.34.4"
            nodes = (await client.CoreV1Api(api).list_node()).items
            assert nodes, cluster
            for node in nodes:
                ready = {c.type: c.status for c in node.status.conditions}
                assert ready["Ready"] == "True", node.metadata.name


async def test_namespace_credential_creates_pods_only_in_its_namespace(sandbox, hub_api):
    for cluster in sandbox.clusters:
        async with hub_api(cluster) as api:
            core = client.CoreV1Api(api)
            name = unique("cred")
            await core.create_namespaced_pod(sandbox.namespace, pod_manifest(name, ["sleep", "30"]))
            await core.delete_namespaced_pod(name, sandbox.namespace, grace_period_seconds=0)
            with pytest.raises(client.ApiException) as nodes:
                await core.list_node()
            assert nodes.value.status == 403
            for other in ("research", "default", "kube-system"):
                with pytest.raises(client.ApiException) as denied:
                    await core.create_namespaced_pod(other, pod_manifest(unique("x"), ["true"]))
                assert denied.value.status == 403, (cluster, other)
                with pytest.raises(client.ApiException) as listing:
                    await core.list_namespaced_pod(other)
                assert listing.value.status == 403


async def test_hub_credential_has_no_cluster_role(sandbox, admin_api):
    for cluster in sandbox.clusters:
        async with admin_api(cluster) as api:
            rbac = client.RbacAuthorizationV1Api(api)
            bindings = (await rbac.list_cluster_role_binding()).items
            for binding in bindings:
                for subject in binding.subjects or []:
                    assert subject.name != "fedspawner-hub", binding.metadata.name


@pytest.mark.parametrize("cluster,selector,resource,group,tolerations", [
    ("onprem", {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-40GB"}, "nvidia.com/gpu", "a100", None),
    ("onprem", {"amd.com/gpu.product-name": "AMD_Instinct_MI210"}, "amd.com/gpu", "mi210", None),
    ("regional", {"nvidia.com/gpu.product": "NVIDIA-L4"}, "nvidia.com/gpu", "l4", None),
    ("regional", {"nvidia.com/gpu.product": "NVIDIA-A10"}, "nvidia.com/gpu", "a10", None),
    ("regional", {"nvidia.com/mig.strategy": "mixed"}, "nvidia.com/mig-1g.10gb", "a100-mig", None),
    ("burst", {"cloud.google.com/gke-accelerator": "nvidia-h100-80gb"}, "nvidia.com/gpu", "h100",
     [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]),
])
async def test_gpu_pod_lands_on_a_node_of_that_model(sandbox, hub_api, cluster, selector, resource, group,
                                                     tolerations):
    async with hub_api(cluster) as api:
        core = client.CoreV1Api(api)
        names = [unique("gpu") for _ in range(3)]
        for name in names:
            await core.create_namespaced_pod(sandbox.namespace, pod_manifest(
                name, ["sleep", "60"], gpus=1, resource=resource, node_selector=selector,
                tolerations=tolerations))
        try:
            for name in names:
                pod = await wait_for_phase(core, sandbox.namespace, name, {"Running"})
                assert pod.spec.node_name.startswith(group + "-"), (name, pod.spec.node_name)
        finally:
            for name in names:
                await core.delete_namespaced_pod(name, sandbox.namespace, grace_period_seconds=0)


async def test_tainted_gpu_nodes_need_a_toleration(sandbox, hub_api):
    async with hub_api("burst") as api:
        core = client.CoreV1Api(api)
        name = unique("untolerated")
        await core.create_namespaced_pod(sandbox.namespace, pod_manifest(
            name, ["sleep", "60"], gpus=1, node_selector={"cloud.google.com/gke-accelerator": "nvidia-h100-80gb"}))
        try:
            async def failed():
                return [e for e in await events_for(core, sandbox.namespace, name) if e.reason == "FailedScheduling"]

            events = await wait_for(failed, "a FailedScheduling event")
            assert "untolerated taint" in events[0].message
            assert (await core.read_namespaced_pod(name, sandbox.namespace)).status.phase == "Pending"
        finally:
            await core.delete_namespaced_pod(name, sandbox.namespace, grace_period_seconds=0)


async def test_more_gpus_than_free_stays_pending_with_failed_scheduling(sandbox, hub_api):
    async with hub_api("regional") as api:
        core = client.CoreV1Api(api)
        name = unique("toomany")
        # The largest regional node has 4 GPUs.
        await core.create_namespaced_pod(sandbox.namespace, pod_manifest(name, ["sleep", "60"], gpus=5))
        try:
            async def failed():
                return [e for e in await events_for(core, sandbox.namespace, name) if e.reason == "FailedScheduling"]

            events = await wait_for(failed, "a FailedScheduling event")
            assert "Insufficient nvidia.com/gpu" in events[0].message
            pod = await core.read_namespaced_pod(name, sandbox.namespace)
            assert pod.status.phase == "Pending" and not pod.spec.node_name
        finally:
            await core.delete_namespaced_pod(name, sandbox.namespace, grace_period_seconds=0)


async def test_gpu_quota_rejects_pods_over_it(sandbox, hub_api):
    async with hub_api("onprem") as api:
        core = client.CoreV1Api(api)
        quota = await core.read_namespaced_resource_quota("gpu-quota", sandbox.namespace)
        assert quota.spec.hard["requests.nvidia.com/gpu"] == "6"
        with pytest.raises(client.ApiException) as rejected:
            await core.create_namespaced_pod(sandbox.namespace, pod_manifest(unique("quota"), ["true"], gpus=7))
        assert rejected.value.status == 403
        assert "exceeded quota: gpu-quota" in rejected.value.body
