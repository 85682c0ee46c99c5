"""A namespace of its own on every sandbox cluster where the hub's real credential is granted exactly
what ``fedspawner join`` grants, and taken away again (its RoleBinding deleted and restored with the
admin credential), as a cluster admin might do by mistake. Starts with no fedspawner object at all."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.rest import ApiException

from fedspawner.federation.rbac import hub_role_rules
from fedspawner.sandbox.bootstrap import HUB_ACCOUNT
from fedspawner.sandbox.federation import member_clusters

from .sandbox_fixtures import api_client
from .kube_helpers import unique


@dataclass
class Grants:
    """The hub's Role in ``namespace`` on every cluster; ``revoke``/``restore`` its RoleBinding."""

    sandbox: object
    namespace: str
    admins: dict[str, client.ApiClient] = field(default_factory=dict)

    def rbac(self, cluster: str) -> client.RbacAuthorizationV1Api:
        return client.RbacAuthorizationV1Api(self.admins[cluster])

    async def restore(self, cluster: str) -> None:
        """(Re)create the hub's RoleBinding in the namespace."""
        body = {"metadata": {"name": HUB_ACCOUNT},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": HUB_ACCOUNT},
                "subjects": [{"kind": "ServiceAccount", "name": HUB_ACCOUNT, "namespace": self.sandbox.namespace}]}
        await self.rbac(cluster).create_namespaced_role_binding(self.namespace, body)

    async def revoke(self, cluster: str) -> None:
        """Delete the hub's RoleBinding in the namespace (its Role stays)."""
        await self.rbac(cluster).delete_namespaced_role_binding(HUB_ACCOUNT, self.namespace)

    def members(self) -> list[dict]:
        """``c.Federation.clusters`` using the hub's credential in this namespace."""
        return [dict(entry, namespace=self.namespace) for entry in member_clusters(self.sandbox.state_dir)]


@pytest.fixture
async def grants(sandbox):
    """A fresh namespace per test with the hub's Role, bound on every cluster."""
    found = Grants(sandbox, unique("fs-grants"))
    async with contextlib.AsyncExitStack() as stack:
        for cluster in sandbox.clusters:
            api = found.admins[cluster] = await stack.enter_async_context(
                api_client(sandbox.kubeconfig, f"{cluster}-admin"))
            await client.CoreV1Api(api).create_namespace({"metadata": {"name": found.namespace}})
            await found.rbac(cluster).create_namespaced_role(
                found.namespace, {"metadata": {"name": HUB_ACCOUNT}, "rules": hub_role_rules()})
            await found.restore(cluster)
        try:
            yield found
        finally:
            for cluster in sandbox.clusters:
                with contextlib.suppress(ApiException):
                    await client.CoreV1Api(found.admins[cluster]).delete_namespace(found.namespace)


async def until(predicate, timeout: float, what: str = "") -> float:
    """Seconds until ``predicate()`` holds (fails the test after ``timeout``)."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    while not predicate():
        assert loop.time() - start < timeout, f"not within {timeout}s: {what}"
        await asyncio.sleep(0.05)
    return loop.time() - start
