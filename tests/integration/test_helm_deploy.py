"""The zero-to-jupyterhub chart, rendered with helm-values/, installed into a sandbox cluster.

The hub and proxy run in `onprem` (namespace `jhub`) as the chart renders them: the hub
pod runs the chart's own jupyterhub_config.py, which reads the chart's Secret through
z2jh's helpers, and the member kubeconfig comes from a Secret mounted at /etc/fedspawner.
The hub spawns into `regional` — another cluster — and everything is reached through the
chart's proxy, at the proxy-public Service's port 80 (targetPort 8000). The hub's own
cluster is a member too (`in_cluster: true`: the hub's service account, found through the
in-cluster apiserver variables and the projected token), with the extra Role of
helm-values/in-cluster-role.yaml.
"""

from __future__ import annotations

import pytest
from kubernetes_asyncio import client

from fedspawner.deploy.helm_chart import chart_dir
from fedspawner.demo.helm_sandbox import KUBECONFIG_SECRET, deploy, undeploy

from .json_client import request_json
from .kube_helpers import wait_for, wait_until_gone

pytestmark = [pytest.mark.sandbox, pytest.mark.helm,
              pytest.mark.skipif(chart_dir() is None, reason="the z2jh chart source is not on this machine")]

HUB_CLUSTER, MEMBER, NAMESPACE = "onprem", "regional", "jhub"
TOKEN = "fedspawner-z2jh-test-token-0123456789abcdef"


def call(deployment, method: str, path: str, body=None, timeout: float = 60):
    answer = request_json(method, f"{deployment.url}{path}", body, token=TOKEN, timeout=timeout)
    return answer.status, answer.body


@pytest.fixture(scope="module")
async def deployment(sandbox):
    await undeploy(sandbox.kubeconfig, HUB_CLUSTER, NAMESPACE)  # leftovers of an interrupted run
    try:
        yield await deploy(sandbox.state_dir, sandbox.kubeconfig, hub_cluster=HUB_CLUSTER, members=[MEMBER],
                           namespace=NAMESPACE, api_token=TOKEN, timeout=120, include_home=True)
    finally:
        await undeploy(sandbox.kubeconfig, HUB_CLUSTER, NAMESPACE)


async def _hub_pod(admin_api):
    async with admin_api(HUB_CLUSTER) as api:
        core = client.CoreV1Api(api)
        pods = await core.list_namespaced_pod(NAMESPACE, label_selector="component=hub")
        assert len(pods.items) == 1
        pod = pods.items[0]
        return pod, await core.read_namespaced_pod_log(pod.metadata.name, NAMESPACE, container="hub")


async def test_hub_runs_the_charts_own_config_under_the_node_agent(deployment, admin_api):
    async def ready():
        # The hub answers through the proxy before the node agent's next readiness probe
        # (the chart's: every 2 s, 1 s timeout) has seen it; a loaded machine can miss one.
        pod, log = await _hub_pod(admin_api)
        statuses = pod.status.container_statuses or []
        return (pod, log) if pod.status.phase == "Running" and statuses and statuses[0].ready else None

    pod, log = await wait_for(ready, "the hub pod to be ready", timeout=60, interval=0.5)
    assert pod.status.container_statuses[0].image.endswith("/fedspawner-hub:sandbox")
    container = pod.spec.containers[0]
    assert container.args[:3] == ["jupyterhub", "--config", "/usr/local/etc/jupyterhub/jupyterhub_config.py"]
    mounts = {m.mount_path: m for m in container.volume_mounts}
    assert mounts["/etc/fedspawner"].read_only and mounts["/usr/local/etc/jupyterhub/secret/"]
    volume = next(v for v in pod.spec.volumes if v.name == "fedspawner-kubeconfigs")
    assert volume.secret.secret_name == KUBECONFIG_SECRET
    for line in ("Loading /usr/local/etc/jupyterhub/secret/values.yaml",
                 "Loading pass-through config section hub.config.Federation",
                 "Loading extra config: fedspawner",
                 "Using Spawner: fedspawner.spawner.spawner.FederatedKubeSpawner"):
        assert line in log, line
    assert "Traceback" not in log


async def test_the_hub_answers_through_the_charts_proxy_on_port_80(deployment, admin_api):
    async with admin_api(HUB_CLUSTER) as api:
        svc = await client.CoreV1Api(api).read_namespaced_service("proxy-public", NAMESPACE)
    port = svc.spec.ports[0]
    assert (port.port, port.target_port) == (80, "http")
    assert deployment.url == f"http://{svc.spec.cluster_ip}" and svc.spec.cluster_ip.startswith("127.")
    status, info = call(deployment, "GET", "/hub/api/")
    assert status == 200 and info["version"]


async def test_gateway_service_answers_through_the_proxy(deployment):
    async def answered():  # the hub starts the service and adds its route after it answers itself
        status, body = call(deployment, "GET", "/services/fedspawner-gateway/api/v1/clusters")
        return body if status == 200 else None

    body = await wait_for(answered, "the gateway to answer through the proxy", timeout=30, interval=0.3)
    assert [c["name"] for c in body["clusters"]] == [HUB_CLUSTER, MEMBER]

    async def healthy():  # the in-cluster member's inventory comes up once its quota watch runs
        clusters = call(deployment, "GET", "/services/fedspawner-gateway/api/v1/clusters")[1]["clusters"]
        return all(c["healthy"] for c in clusters)

    assert await wait_for(healthy, "both members to be healthy", timeout=30, interval=0.5)


async def start(deployment, user: str, cluster: str) -> dict:
    assert call(deployment, "POST", f"/hub/api/users/{user}")[0] in (201, 409)
    status, body = call(deployment, "POST", f"/hub/api/users/{user}/server", {"profile": "cpu", "cluster": cluster})
    assert status in (201, 202), body

    async def ready():
        model = call(deployment, "GET", f"/hub/api/users/{user}")[1]["servers"].get("")
        assert model and (model["ready"] or model["pending"]), model
        return model if model["ready"] else None

    return await wait_for(ready, "the server to be ready", timeout=120, interval=0.3)


async def test_spawn_lands_on_the_other_cluster_and_answers_through_the_proxy(deployment, admin_api):
    user = "researcher"
    model = await start(deployment, user, MEMBER)
    assert model["state"]["cluster"] == MEMBER and model["state"]["namespace"] == "fedspawner"
    try:
        async with admin_api(MEMBER) as api:
            pod = await client.CoreV1Api(api).read_namespaced_pod(model["state"]["pod_name"], "fedspawner")
        env = {e.name: e.value for e in pod.spec.containers[0].env}
        assert env["JUPYTERHUB_API_URL"] == f"{deployment.url}/hub/api"  # Federation.public_hub_url
        assert env["FEDSPAWNER_GATEWAY_URL"] == f"{deployment.url}/services/fedspawner-gateway/"
        async with admin_api(HUB_CLUSTER) as api:  # nothing runs in the hub's own cluster
            pods = await client.CoreV1Api(api).list_namespaced_pod(
                NAMESPACE, label_selector="component=singleuser-server")
            assert pods.items == []
        status, info = call(deployment, "GET", f"/user/{user}/api")
        assert status == 200 and "version" in info
    finally:
        assert call(deployment, "DELETE", f"/hub/api/users/{user}/server")[0] in (202, 204)
        async with admin_api(MEMBER) as api:
            await wait_until_gone(client.CoreV1Api(api), "fedspawner", model["state"]["pod_name"], timeout=60)


async def test_spawn_on_the_hubs_own_cluster_through_its_service_account(deployment, admin_api):
    user = "local-researcher"
    model = await start(deployment, user, HUB_CLUSTER)
    assert model["state"]["cluster"] == HUB_CLUSTER and model["state"]["namespace"] == NAMESPACE
    try:
        status, info = call(deployment, "GET", f"/user/{user}/api")
        assert status == 200 and "version" in info
    finally:
        assert call(deployment, "DELETE", f"/hub/api/users/{user}/server")[0] in (202, 204)
        async with admin_api(HUB_CLUSTER) as api:
            await wait_until_gone(client.CoreV1Api(api), NAMESPACE, model["state"]["pod_name"], timeout=60)
