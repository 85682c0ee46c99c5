"""``fedspawner join`` / ``leave`` / ``join --check`` against sandbox clusters, as their admin.

The member's admin joins a namespace with the ``<cluster>-admin`` context; the kubeconfig
join hands out is then used as the hub would use it: pods in the namespace, nothing
elsewhere, nodes only with ``--inventory-reader``, and ``fedspawner clusters`` sees the
member healthy.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import yaml
from kubernetes_asyncio import client
from kubernetes_asyncio.client.rest import ApiException

from fedspawner.deploy import join_manifests as m
from fedspawner.federation.config import parse_member_cluster

from .sandbox_fixtures import api_client, fedspawner_cli
from .kube_helpers import pod_manifest, unique, wait_for

pytestmark = pytest.mark.sandbox

CLUSTER = "regional"


def join(sandbox, namespace: str, out: Path, *extra: str):
    return fedspawner_cli("join", "--kubeconfig", str(sandbox.kubeconfig), "--context", f"{CLUSTER}-admin",
                          "--name", CLUSTER, "--namespace", namespace, "--output", str(out), *extra, timeout=120)


def leave(sandbox, namespace: str, *extra: str):
    return fedspawner_cli("leave", "--kubeconfig", str(sandbox.kubeconfig), "--context", f"{CLUSTER}-admin",
                          "--namespace", namespace, *extra, timeout=120)


async def made_by_join(api, namespace: str) -> dict[str, dict[str, str]]:
    """kind -> {name: resourceVersion} of everything labelled as join's for ``namespace``."""
    core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
    sel = m.selector(namespace)
    lists = {
        "ServiceAccount": core.list_namespaced_service_account(namespace, label_selector=sel),
        "Role": rbac.list_namespaced_role(namespace, label_selector=sel),
        "RoleBinding": rbac.list_namespaced_role_binding(namespace, label_selector=sel),
        "ResourceQuota": core.list_namespaced_resource_quota(namespace, label_selector=sel),
        "Secret": core.list_namespaced_secret(namespace, label_selector=sel),
        "ClusterRole": rbac.list_cluster_role(label_selector=sel),
        "ClusterRoleBinding": rbac.list_cluster_role_binding(label_selector=sel),
    }
    found = {}
    for kind, call in lists.items():
        items = (await call).items
        if items:
            found[kind] = {o.metadata.name: o.metadata.resource_version for o in items}
    return found


async def test_join_creates_a_working_namespace_credential(sandbox, admin_api, tmp_path):
    ns = unique("join")
    first = join(sandbox, ns, tmp_path, "--quota", "gpus=2,cpu=4,memory=8Gi")
    assert first.returncode == 0, first.stderr
    assert f"created   Namespace {ns}" in first.stderr and "created   ResourceQuota fedspawner-quota" in first.stderr
    async with admin_api(CLUSTER) as admin:
        objects = await made_by_join(admin, ns)
        assert {k: sorted(v) for k, v in objects.items()} == {
            "ServiceAccount": ["fedspawner-hub"], "Role": ["fedspawner-hub"], "RoleBinding": ["fedspawner-hub"],
            "ResourceQuota": ["fedspawner-quota"]}
        quota = await client.CoreV1Api(admin).read_namespaced_resource_quota("fedspawner-quota", ns)
        assert quota.spec.hard == {"requests.nvidia.com/gpu": "2", "requests.cpu": "4", "requests.memory": "8Gi"}

        second = join(sandbox, ns, tmp_path / "again", "--quota", "gpus=2,cpu=4,memory=8Gi")
        assert second.returncode == 0, second.stderr
        assert f"nothing changed: namespace {ns} was already joined as {CLUSTER}" in second.stderr
        assert "created" not in second.stderr and "updated" not in second.stderr
        assert await made_by_join(admin, ns) == objects  # same resourceVersions: nothing was written

    kubeconfig = tmp_path / f"{CLUSTER}.kubeconfig"
    async with api_client(kubeconfig, CLUSTER) as api:
        core = client.CoreV1Api(api)
        name = unique("joined")
        await core.create_namespaced_pod(ns, pod_manifest(name, ["true"]))
        await core.delete_namespaced_pod(name, ns, grace_period_seconds=0)
        for forbidden in (core.list_node(), core.create_namespaced_pod(sandbox.namespace, pod_manifest(name, ["true"])),
                          core.list_namespaced_secret(ns)):
            with pytest.raises(ApiException) as denied:
                await forbidden
            assert denied.value.status == 403

    secret = yaml.safe_load((tmp_path / f"{CLUSTER}-kubeconfig-secret.yaml").read_text())
    assert secret["metadata"]["name"] == m.HUB_SECRET
    assert yaml.safe_load(secret["stringData"][f"{CLUSTER}.kubeconfig"]) == yaml.safe_load(kubeconfig.read_text())
    values = yaml.safe_load((tmp_path / f"{CLUSTER}-values.yaml").read_text())
    entry = values["hub"]["config"]["Federation"]["clusters"][0]
    assert entry["kubeconfig"] == f"/etc/fedspawner/{CLUSTER}.kubeconfig"
    entry = {**entry, "kubeconfig": str(kubeconfig)}  # where the hub would mount it
    assert parse_member_cluster(0, entry).namespace == ns

    config = tmp_path / "jupyterhub_config.py"
    config.write_text(f"c.Federation.clusters = [{entry!r}]\n")
    seen = fedspawner_cli("clusters", "--json", "--config", str(config), timeout=60)
    assert seen.returncode == 0, seen.stdout + seen.stderr
    [member] = yaml.safe_load(seen.stdout)
    assert (member["name"], member["healthy"], member["namespace"], member["visibility"]) == (
        CLUSTER, True, ns, "namespace")

    check = fedspawner_cli("join", "--check", "--kubeconfig", str(kubeconfig), "--context", CLUSTER,
                           "--namespace", ns, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "quota fedspawner-quota: " in check.stdout and "requests.nvidia.com/gpu=2 (used 0)" in check.stdout
    assert 'nodes are not visible → GPU numbers are "up to"' in check.stdout
    assert "MISSING" not in check.stdout and "wildcard" not in check.stdout
    assert check.stdout.rstrip().endswith(
        'usable: namespace view only, GPU numbers are "up to" (quota, declared capacity)')

    gone = leave(sandbox, ns, "--delete-namespace")
    assert gone.returncode == 0, gone.stderr
    assert f"deleted   Namespace {ns}" in gone.stdout


async def test_inventory_reader_and_token_secret(sandbox, admin_api, tmp_path):
    ns = unique("joinr")
    joined = join(sandbox, ns, tmp_path, "--inventory-reader", "--token-secret")
    assert joined.returncode == 0, joined.stderr
    async with admin_api(CLUSTER) as admin:
        objects = await made_by_join(admin, ns)
        assert objects["ClusterRole"].keys() == objects["ClusterRoleBinding"].keys() == {f"fedspawner-inventory-{ns}"}
        assert objects["Secret"].keys() == {m.TOKEN_SECRET}
    kubeconfig = tmp_path / f"{CLUSTER}.kubeconfig"
    token = yaml.safe_load(kubeconfig.read_text())["users"][0]["user"]["token"]
    async with admin_api(CLUSTER) as admin:
        secret = await client.CoreV1Api(admin).read_namespaced_secret(m.TOKEN_SECRET, ns)
        assert base64.b64decode(secret.data["token"]).decode() == token
    async with api_client(kubeconfig, CLUSTER) as api:
        core = client.CoreV1Api(api)
        assert (await core.list_node()).items
        with pytest.raises(ApiException) as denied:
            await core.create_namespaced_pod("default", pod_manifest(unique("x"), ["true"]))
        assert denied.value.status == 403
    check = fedspawner_cli("join", "--check", "--kubeconfig", str(kubeconfig), "--context", CLUSTER,
                           "--namespace", ns, timeout=60)
    assert check.returncode == 0, check.stdout
    assert "nodes visible (" in check.stdout and "GPU numbers are exact" in check.stdout
    assert "no ResourceQuota in" in check.stdout
    assert check.stdout.rstrip().endswith("usable: exact GPU numbers from nodes")
    again = join(sandbox, ns, tmp_path / "again", "--inventory-reader", "--token-secret")
    assert "nothing changed" in again.stderr
    assert (tmp_path / "again" / f"{CLUSTER}.kubeconfig").read_text() == kubeconfig.read_text()

    gone = leave(sandbox, ns)
    assert gone.returncode == 0, gone.stderr
    async with admin_api(CLUSTER) as admin:
        assert await made_by_join(admin, ns) == {}
        assert (await client.CoreV1Api(admin).read_namespace(ns)).metadata.name == ns  # kept: not asked
    assert "pass --delete-namespace" in gone.stdout
    assert leave(sandbox, ns, "--delete-namespace").returncode == 0


async def test_leave_keeps_what_join_did_not_make(sandbox, admin_api, tmp_path):
    ns = unique("joinp")
    async with admin_api(CLUSTER) as admin:
        core = client.CoreV1Api(admin)
        await core.create_namespace({"metadata": {"name": ns}})
        await core.create_namespaced_config_map(ns, {"metadata": {"name": "site-settings"}, "data": {"a": "1"}})
        await core.create_namespaced_resource_quota(ns, {"metadata": {"name": "site-quota"},
                                                         "spec": {"hard": {"pods": "50"}}})
        try:
            joined = join(sandbox, ns, tmp_path, "--quota", "gpus=1", "--inventory-reader")
            assert joined.returncode == 0, joined.stderr
            assert f"exists    Namespace {ns}" in joined.stderr
            gone = leave(sandbox, ns, "--delete-namespace")
            assert gone.returncode == 0, gone.stderr
            assert "deleted   ClusterRole fedspawner-inventory-" in gone.stdout
            assert await made_by_join(admin, ns) == {}
            assert (await core.read_namespaced_config_map("site-settings", ns)).data == {"a": "1"}
            assert (await core.read_namespaced_resource_quota("site-quota", ns)).spec.hard == {"pods": "50"}
            assert (await core.read_namespace(ns)).status.phase == "Active"  # existed before join: kept
            assert (await core.read_namespaced_service_account("default", ns)).metadata.name == "default"
            nothing = leave(sandbox, ns)
            assert "nothing to remove" in nothing.stdout
        finally:
            await core.delete_namespace(ns)


async def test_check_explains_a_reduced_credential(sandbox, admin_api, tmp_path):
    """A read-only account: the review finds pods cannot be created and says what that means."""
    ns = unique("joinq")
    async with admin_api(CLUSTER) as admin:
        core, rbac = client.CoreV1Api(admin), client.RbacAuthorizationV1Api(admin)
        await core.create_namespace({"metadata": {"name": ns}})
        try:
            await core.create_namespaced_service_account(ns, {"metadata": {"name": "viewer"}})
            await rbac.create_namespaced_role(ns, {"metadata": {"name": "viewer"}, "rules": [
                {"apiGroups": [""], "resources": ["pods", "events"], "verbs": ["get", "list", "watch"]}]})
            await rbac.create_namespaced_role_binding(ns, {
                "metadata": {"name": "viewer"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "viewer"},
                "subjects": [{"kind": "ServiceAccount", "name": "viewer", "namespace": ns}]})

            async def token():
                answer = await core.create_namespaced_service_account_token(
                    "viewer", ns, {"spec": {"expirationSeconds": 3600}})
                return answer.status.token
            req = m.JoinRequest(cluster="reduced", namespace=ns)
            admin_cluster = next(c for c in yaml.safe_load(sandbox.kubeconfig.read_text())["clusters"]
                                 if c["name"] == CLUSTER)["cluster"]
            kubeconfig = tmp_path / "reduced.kubeconfig"
            kubeconfig.write_text(yaml.safe_dump(m.hub_kubeconfig(
                req, admin_cluster["server"], await wait_for(token, "a viewer token"),
                admin_cluster["certificate-authority-data"])))
            check = fedspawner_cli("join", "--check", "--kubeconfig", str(kubeconfig), "--context", "reduced",
                                   "--namespace", ns, timeout=60)
        finally:
            await core.delete_namespace(ns)
    assert check.returncode == 1, check.stdout + check.stderr
    out = check.stdout
    assert "MISSING  cannot create/delete/patch pods in " in out and "the spawner is unusable" in out
    assert "MISSING  cannot create/delete/get/list/watch/patch configmaps" in out
    assert "ok       get/list/watch events in" in out
    assert "limited  the namespace's quota cannot be read" in out
    assert "is refused (403" in out
    assert "NOT USABLE" in out.splitlines()[-1]
    assert "Traceback" not in out + check.stderr


@pytest.mark.parametrize("args, says", [
    (["--context", "nowhere-admin", "--namespace", "ok"], "context 'nowhere-admin' is not in"),
    (["--context", f"{CLUSTER}-admin", "--name", CLUSTER, "--namespace", "ok", "--quota", "gpus=lots"],
     "--quota gpus: 'lots' is not a Kubernetes quantity"),
    (["--context", f"{CLUSTER}-admin", "--name", CLUSTER, "--namespace", "Not_Valid"],
     "--namespace 'Not_Valid' is not valid"),
    (["--context", f"{CLUSTER}-admin", "--namespace", "ok", "--token-duration", "5m"], "is too short"),
])
def test_bad_input_is_one_line_and_exit_2(sandbox, args, says):
    proc = fedspawner_cli("join", "--kubeconfig", str(sandbox.kubeconfig), *args, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == proc.stderr.strip().splitlines()[0] and says in proc.stderr
    assert "Traceback" not in proc.stderr and not proc.stdout


def test_a_credential_that_cannot_create_the_namespace_is_told_so(sandbox, tmp_path):
    """The hub's own namespace-scoped credential is no cluster admin: join stops with one line."""
    proc = fedspawner_cli("join", "--kubeconfig", str(sandbox.kubeconfig), "--context", CLUSTER, "--namespace",
                          unique("nope"), "--output", str(tmp_path), timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert "not allowed to create namespace" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert "Traceback" not in proc.stderr and not list(tmp_path.iterdir())


def test_unreachable_apiserver_is_one_line(tmp_path):
    kubeconfig = tmp_path / "down.kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(m.hub_kubeconfig(m.JoinRequest("down", "ns"), "https://127.0.0.1:9", "T",
                                                          insecure=True)))
    for argv in (["join", "--check"], ["leave"], ["join"]):
        proc = fedspawner_cli(*argv, "--kubeconfig", str(kubeconfig), "--context", "down", "--namespace", "ns",
                              timeout=60)
        assert proc.returncode == 1, proc.stderr
        assert "does not answer" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
        assert "Traceback" not in proc.stderr
