"""Install the zero-to-jupyterhub chart, rendered with ``helm-values/``, into a sandbox.

What an admin does with ``helm install``, done against sandbox clusters: the hub and the
proxy run in one cluster (``hub_cluster``) as the chart renders them — the chart's own
``jupyterhub_config.py`` reading the chart's Secret, the member kubeconfig mounted from a
Secret created beforehand — and the hub spawns servers into the member clusters. The
node agent runs the hub image from fedspawner's environment and the proxy image from
the cached configurable-http-proxy (see the sandbox topology's ``environments``).

Two passes, as on a cloud where the load balancer's address is known only after the
first install: the ``proxy-public`` Service is created first, and its (loopback)
cluster IP becomes ``Federation.public_hub_url``, the address servers on other
clusters call the hub at.
"""

from __future__ import annotations

import asyncio
import copy
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml
from kubernetes_asyncio import client, config, utils
from kubernetes_asyncio.client.rest import ApiException

from ..deploy.helm import Rendered, template
from ..deploy.helm_chart import BASE_VALUES, VALUES_DIR, chart_dir
from ..sandbox.federation import member_clusters

HUB_IMAGE = "localhost/fedspawner-hub"  # the sandbox maps */fedspawner-hub:* to fedspawner's environment
KUBECONFIG_SECRET = "fedspawner-kubeconfigs"
KUBECONFIG_MOUNT = "/etc/fedspawner/kubeconfig"
RELEASE = "jhub"
IN_CLUSTER_ROLE = VALUES_DIR / "in-cluster-role.yaml"


@dataclass(frozen=True)
class HubDeployment:
    """A chart installed into a sandbox cluster."""

    cluster: str
    namespace: str
    url: str  # http://<proxy-public cluster IP>: the hub through the chart's proxy
    api_token: str  # token of the admin service the overlay registers
    rendered: Rendered


def member_kubeconfig(kubeconfig: dict, contexts: list[str]) -> dict:
    """A kubeconfig holding only ``contexts`` (and their users and clusters)."""
    ctxs = [c for c in kubeconfig["contexts"] if c["name"] in contexts]
    users = {c["context"]["user"] for c in ctxs}
    clusters = {c["context"]["cluster"] for c in ctxs}
    return {"apiVersion": "v1", "kind": "Config", "current-context": ctxs[0]["name"], "contexts": ctxs,
            "users": [u for u in kubeconfig["users"] if u["name"] in users],
            "clusters": [c for c in kubeconfig["clusters"] if c["name"] in clusters]}


def sandbox_overlay(state_dir: Path, members: list[str], public_url: str, api_token: str,
                    home: dict | None = None) -> dict:
    """Values for the sandbox: member clusters through the mounted kubeconfig (and ``home``,
    the hub's own cluster through its service account, when given), the hub image the
    sandbox maps to a local environment, an admin service for the tests' REST calls."""
    clusters = [home] if home else []
    for entry in member_clusters(state_dir):
        if entry["name"] in members:
            entry = {**entry, "kubeconfig": KUBECONFIG_MOUNT, "access": "direct"}
            entry.pop("inventory_context", None)  # the Secret holds the namespace credential only
            if "capacity" not in entry:
                entry["capacity"] = {}
            clusters.append(entry)
    return {
        "hub": {
            "image": {"name": HUB_IMAGE, "tag": "sandbox"},
            "config": {
                "Federation": {"clusters": clusters, "public_hub_url": public_url},
                "Authenticator": {"allow_all": True, "admin_users": ["admin"]},
                # JupyterLab can take more than the default 30 s to answer on a loaded machine.
                "KubeSpawner": {"http_timeout": 120},
            },
            "services": {"tester": {"apiToken": api_token}},
            "loadRoles": {"tester": {"services": ["tester"], "scopes": [
                "admin:users", "admin:servers", "read:users", "servers", "access:servers", "access:services"]}},
        },
        "proxy": {"service": {"type": "ClusterIP"}},
        # The chart's idle culler calls the hub at localhost:8081; sandbox pods share the
        # host's network, where the hub listens on its pod address only.
        "cull": {"enabled": False},
        "singleuser": {
            "extraEnv": {"FEDSPAWNER_GATEWAY_URL": f"{public_url}/services/fedspawner-gateway/"},
            "storage": {"type": "none"},
            "startTimeout": 120,
        },
    }


def home_member(hub_cluster: str, namespace: str) -> dict:
    """The hub's own cluster as a member: its service account (in-cluster config), its namespace."""
    return {"name": hub_cluster, "display_name": f"{hub_cluster} (the hub's cluster)", "in_cluster": True,
            "namespace": namespace, "access": "direct"}


def render(state_dir: Path, members: list[str], public_url: str, api_token: str, namespace: str,
           home: dict | None = None) -> Rendered:
    chart = chart_dir()
    if chart is None:
        raise RuntimeError("the z2jh chart source is not on this machine; set FEDSPAWNER_Z2JH_CHART")
    with tempfile.TemporaryDirectory() as tmp:
        overlay = Path(tmp) / "sandbox.yaml"
        overlay.write_text(yaml.safe_dump(sandbox_overlay(state_dir, members, public_url, api_token, home)))
        return template(chart, [BASE_VALUES, overlay], release=RELEASE, namespace=namespace)


async def _apply(api: client.ApiClient, docs: list[dict], namespace: str) -> None:
    for doc in docs:
        try:
            await utils.create_from_dict(api, copy.deepcopy(doc), namespace=namespace)
        except utils.FailToCreateError as err:
            if not all(getattr(e, "status", None) == 409 for e in err.api_exceptions):
                raise


async def deploy(state_dir: Path, kubeconfig: Path, *, hub_cluster: str, members: list[str],
                 namespace: str = "jhub", api_token: str, timeout: float = 120,
                 include_home: bool = False) -> HubDeployment:
    """Install the chart into ``hub_cluster``/``namespace``; returns once the hub answers.

    ``include_home`` makes the hub's own cluster a member too (``in_cluster: true``)."""
    home = home_member(hub_cluster, namespace) if include_home else None
    raw = yaml.safe_load(Path(kubeconfig).read_text())
    api = await config.new_client_from_config(str(kubeconfig), context=f"{hub_cluster}-admin")
    try:
        core = client.CoreV1Api(api)
        try:
            await core.create_namespace({"metadata": {"name": namespace}})
        except ApiException as err:
            if err.status != 409:
                raise
        await _apply(api, [{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": KUBECONFIG_SECRET},
                            "stringData": {"kubeconfig": yaml.safe_dump(member_kubeconfig(raw, members))}}],
                     namespace)
        if home:  # what the admin applies beside the chart for an in-cluster member
            roles = list(yaml.safe_load_all(IN_CLUSTER_ROLE.read_text()))
            roles[1]["subjects"][0]["namespace"] = namespace
            await _apply(api, roles, namespace)
        first = render(state_dir, members, "http://0.0.0.0", api_token, namespace, home)
        await _apply(api, [first.find("Service", "proxy-public")], namespace)
        public = await core.read_namespaced_service("proxy-public", namespace)
        url = f"http://{public.spec.cluster_ip}"
        rendered = render(state_dir, members, url, api_token, namespace, home)
        await _apply(api, [d for d in rendered.documents if d["metadata"]["name"] != "proxy-public"
                           or d["kind"] != "Service"], namespace)
        await wait_answering(f"{url}/hub/api/", timeout)
        return HubDeployment(cluster=hub_cluster, namespace=namespace, url=url, api_token=api_token,
                             rendered=rendered)
    finally:
        await api.close()


async def wait_answering(url: str, timeout: float) -> float:
    """Poll ``url`` until it answers 200; returns the seconds it took."""
    import aiohttp

    started = time.monotonic()
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.get(url, timeout=aiohttp.ClientTimeout(total=2)) as resp:
                    if resp.status == 200:
                        return time.monotonic() - started
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
                pass
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"{url} did not answer within {timeout:.0f}s")
            await asyncio.sleep(0.25)


async def undeploy(kubeconfig: Path, hub_cluster: str, namespace: str = "jhub", timeout: float = 90) -> None:
    """Delete the namespace the chart was installed into (and so everything in it), and
    wait until it is gone."""
    api = await config.new_client_from_config(str(kubeconfig), context=f"{hub_cluster}-admin")
    core = client.CoreV1Api(api)
    deadline = time.monotonic() + timeout
    try:
        try:
            await core.delete_namespace(namespace)
        except ApiException as err:
            if err.status != 404:
                raise
            return
        while time.monotonic() < deadline:
            try:
                await core.read_namespace(namespace)
            except ApiException as err:
                if err.status == 404:
                    return
                raise
            await asyncio.sleep(0.5)
        raise TimeoutError(f"namespace {namespace} on {hub_cluster} was not deleted within {timeout:.0f}s")
    finally:
        await api.close()
