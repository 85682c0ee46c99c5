"""Objects every sandbox cluster starts with, created through its API as admin.

- the hub's namespace and other tenants' namespaces;
- the hub's service account with a Role and RoleBinding in its namespace only (no
  ClusterRole: member clusters in a real federation rarely grant more) and a token;
- the topology's ResourceQuota;
- the simulated (kwok) nodes.
"""

from __future__ import annotations

import asyncio
import base64
import time

from kubernetes_asyncio import client
from kubernetes_asyncio.client.rest import ApiException

from ..federation.rbac import hub_role_rules, inventory_rules
from .components import KWOK_NODE_ANNOTATION, ClusterLayout
from .topology import Topology

HUB_ACCOUNT = "fedspawner-hub"
HUB_TOKEN_SECRET = "fedspawner-hub-token"
READER_ACCOUNT = "fedspawner-inventory"
READER_TOKEN_SECRET = "fedspawner-inventory-token"
QUOTA_NAME = "gpu-quota"


def admin_api_client(c: ClusterLayout) -> client.ApiClient:
    cfg = client.Configuration()
    cfg.host = c.server
    cfg.ssl_ca_cert = str(c.pki.cert("ca"))
    cfg.cert_file = str(c.pki.cert("admin"))
    cfg.key_file = str(c.pki.key("admin"))
    return client.ApiClient(cfg)


async def _create(coro_factory, *args) -> None:
    try:
        await coro_factory(*args)
    except ApiException as err:
        if err.status != 409:  # already exists: bootstrap is idempotent
            raise


async def _until(check, what: str, timeout: float) -> object:
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            result = await check()
            if result:
                return result
        except ApiException as err:
            last_error = err
        await asyncio.sleep(0.1)
    detail = f" (last error: {last_error.status} {last_error.reason})" if last_error else ""
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}{detail}")


def kwok_node(name: str, group) -> dict:
    capacity = group.capacity()
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {KWOK_NODE_ANNOTATION: "fake"},
            "labels": {**group.labels, "kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                       "kubernetes.io/arch": "amd64", "type": "kwok", "fedspawner.dev/sandbox": "kwok",
                       "fedspawner.dev/node-group": group.name},
        },
        "spec": {"taints": [{"key": t.key, "value": t.value, "effect": t.effect} for t in group.taints]},
        "status": {"capacity": capacity, "allocatable": capacity},
    }


async def _service_account_token(core, ns: str, account: str, secret: str) -> None:
    await _create(core.create_namespaced_service_account, ns, {"metadata": {"name": account}})
    await _create(core.create_namespaced_secret, ns, {
        "metadata": {"name": secret, "annotations": {"kubernetes.io/service-account.name": account}},
        "type": "kubernetes.io/service-account-token",
    })


async def _inventory_reader(core, rbac, ns: str) -> None:
    """A read-only credential that may watch nodes and pods across the cluster."""
    await _service_account_token(core, ns, READER_ACCOUNT, READER_TOKEN_SECRET)
    await _create(rbac.create_cluster_role, {
        "metadata": {"name": READER_ACCOUNT},
        "rules": inventory_rules(),
    })
    await _create(rbac.create_cluster_role_binding, {
        "metadata": {"name": READER_ACCOUNT},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": READER_ACCOUNT},
        "subjects": [{"kind": "ServiceAccount", "name": READER_ACCOUNT, "namespace": ns}],
    })


async def bootstrap_cluster(c: ClusterLayout, topology: Topology, timeout: float = 60) -> dict[str, str]:
    """Create the cluster's starting objects; returns service-account tokens by role
    (``hub``, and ``inventory`` where the topology grants a reader)."""
    ns = topology.namespace
    async with admin_api_client(c) as api:
        core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
        for name in (ns, *topology.extra_namespaces):
            await _create(core.create_namespace, {"metadata": {"name": name}})
        await _service_account_token(core, ns, HUB_ACCOUNT, HUB_TOKEN_SECRET)
        await _create(rbac.create_namespaced_role, ns, {
            "metadata": {"name": HUB_ACCOUNT},
            "rules": hub_role_rules(),  # exactly what `fedspawner join` grants
        })
        await _create(rbac.create_namespaced_role_binding, ns, {
            "metadata": {"name": HUB_ACCOUNT},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": HUB_ACCOUNT},
            "subjects": [{"kind": "ServiceAccount", "name": HUB_ACCOUNT, "namespace": ns}],
        })
        if c.spec.inventory_reader:
            await _inventory_reader(core, rbac, ns)
        if c.spec.quota:
            await _create(core.create_namespaced_resource_quota, ns,
                          {"metadata": {"name": QUOTA_NAME}, "spec": {"hard": c.spec.quota}})
        await _create_kwok_nodes(core, c)

        def token(name):
            async def read():
                secret = await core.read_namespaced_secret(name, ns)
                data = secret.data or {}
                return base64.b64decode(data["token"]).decode() if "token" in data else None
            return read

        async def default_accounts():
            for name in (ns, *topology.extra_namespaces):
                await core.read_namespaced_service_account("default", name)
            return True

        expected = {n for n, _ in c.spec.nodes("agent")} | {n for n, _ in c.spec.nodes("kwok")}

        async def nodes_ready():
            ready = set()
            cont = None
            while True:
                page = await core.list_node(limit=500, _continue=cont)
                for node in page.items:
                    if any(cond.type == "Ready" and cond.status == "True" for cond in node.status.conditions or []):
                        ready.add(node.metadata.name)
                cont = page.metadata._continue
                if not cont:
                    return expected <= ready

        tokens = {"hub": await _until(token(HUB_TOKEN_SECRET), f"{c.spec.name}: the hub token", timeout)}
        if c.spec.inventory_reader:
            tokens["inventory"] = await _until(token(READER_TOKEN_SECRET), f"{c.spec.name}: the reader token",
                                               timeout)
        await _until(default_accounts, f"{c.spec.name}: default service accounts", timeout)
        await _until(nodes_ready, f"{c.spec.name}: {len(expected)} nodes to be Ready", timeout)
        return tokens


async def _create_kwok_nodes(core: client.CoreV1Api, c: ClusterLayout) -> None:
    nodes = c.spec.nodes("kwok")
    if not nodes:
        return
    limit = asyncio.Semaphore(32)

    async def one(name, group):
        async with limit:
            await _create(core.create_node, kwok_node(name, group))

    await asyncio.gather(*(one(n, g) for n, g in nodes))
