"""``fedspawner join``'s pure builders: RBAC rules, member objects, hub kubeconfig and entry."""

import pytest
import yaml

from fedspawner.deploy import join_manifests as m
from fedspawner.deploy.check import Finding, report
from fedspawner.federation.rbac import HUB_PERMISSIONS, hub_role_rules, inventory_rules
from fedspawner.federation.config import parse_member_cluster


def request(**kw):
    return m.JoinRequest(**{"cluster": "partner", "namespace": "jhub", **kw})


def test_role_rules_grant_each_permission_exactly_and_only_in_the_namespace():
    rules = hub_role_rules()
    granted = {(g, r, v) for rule in rules for g in rule["apiGroups"] for r in rule["resources"] for v in rule["verbs"]}
    wanted = {(p.group, p.resource, v) for p in HUB_PERMISSIONS for v in p.verbs}
    assert granted == wanted
    assert not any("*" in rule["verbs"] or "*" in rule["resources"] or "*" in rule["apiGroups"] for rule in rules)
    assert ("", "pods", "create") in granted and ("", "pods/log", "get") in granted
    assert ("", "nodes", "list") not in granted and ("", "secrets", "list") not in granted


def test_inventory_rules_are_read_only_nodes_and_pods():
    rules = inventory_rules()
    assert rules == [{"apiGroups": [""], "resources": ["nodes", "pods"], "verbs": ["get", "list", "watch"]}]


def test_member_objects_minimal_and_labelled():
    objects = m.member_objects(request())
    assert [o["kind"] for o in objects] == ["ServiceAccount", "Role", "RoleBinding"]
    for o in objects:
        assert o["metadata"]["namespace"] == "jhub"
        assert o["metadata"]["labels"] == {m.MANAGED_BY: m.JOIN_MANAGER, m.JOINED_NAMESPACE: "jhub"}
    binding = objects[2]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": m.HUB_ACCOUNT}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": m.HUB_ACCOUNT, "namespace": "jhub"}]


def test_member_objects_with_reader_quota_and_token_secret():
    req = request(inventory_reader=True, quota={"requests.nvidia.com/gpu": "4"}, token_seconds=None)
    objects = {o["kind"]: o for o in m.member_objects(req)}
    assert set(objects) == {"ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding",
                            "ResourceQuota", "Secret"}
    assert "namespace" not in objects["ClusterRole"]["metadata"]
    assert objects["ClusterRole"]["metadata"]["name"] == "fedspawner-inventory-jhub"
    assert objects["ClusterRoleBinding"]["roleRef"]["kind"] == "ClusterRole"
    assert objects["ResourceQuota"]["spec"]["hard"] == {"requests.nvidia.com/gpu": "4"}
    secret = objects["Secret"]
    assert secret["type"] == "kubernetes.io/service-account-token"
    assert secret["metadata"]["annotations"] == {"kubernetes.io/service-account.name": m.HUB_ACCOUNT}


def test_selector_finds_one_namespace_only():
    assert m.selector("jhub") == f"{m.MANAGED_BY}={m.JOIN_MANAGER},{m.JOINED_NAMESPACE}=jhub"


@pytest.mark.parametrize("text, hard", [
    ("gpus=4", {"requests.nvidia.com/gpu": "4"}),
    ("amd-gpus=2, cpu=32,memory=128Gi", {"requests.amd.com/gpu": "2", "requests.cpu": "32",
                                         "requests.memory": "128Gi"}),
    ("requests.nvidia.com/gpu=8,pods=20", {"requests.nvidia.com/gpu": "8", "pods": "20"}),
    ("", {}),
])
def test_parse_quota(text, hard):
    assert m.parse_quota(text) == hard


@pytest.mark.parametrize("text, says", [
    ("gpus", "not KEY=VALUE"), ("gpus=", "not KEY=VALUE"), ("gpu=4", "unknown key 'gpu'"),
    ("gpus=four", "not a Kubernetes quantity"), ("memory=12GB", "not a Kubernetes quantity"),
])
def test_parse_quota_errors(text, says):
    with pytest.raises(m.JoinInputError, match=says):
        m.parse_quota(text)


@pytest.mark.parametrize("text, seconds", [("720h", 720 * 3600), ("90m", 5400), ("1h30m", 5400), ("600s", 600)])
def test_parse_duration(text, seconds):
    assert m.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "1d", "5m", "h", "10"])
def test_parse_duration_errors(text):
    with pytest.raises(m.JoinInputError):
        m.parse_duration(text)


@pytest.mark.parametrize("name", ["Bad", "a_b", "-x", "x-", "", "a" * 64])
def test_check_name_rejects(name):
    with pytest.raises(m.JoinInputError, match="not valid"):
        m.check_name(name, "--namespace")


def test_hub_kubeconfig_has_one_context_confined_to_the_namespace():
    cfg = m.hub_kubeconfig(request(), "https://127.0.0.1:6443", "TOKEN", ca_data="Q0E=")
    assert cfg["current-context"] == "partner"
    assert cfg["contexts"] == [{"name": "partner", "context": {"cluster": "partner", "user": "partner-fedspawner-hub",
                                                               "namespace": "jhub"}}]
    assert cfg["clusters"][0]["cluster"] == {"server": "https://127.0.0.1:6443", "certificate-authority-data": "Q0E="}
    assert cfg["users"][0]["user"] == {"token": "TOKEN"}


def test_hub_secret_is_one_key_per_member_in_the_mounted_secret():
    req = request(hub_namespace="hub")
    secret = m.hub_secret(req, m.hub_kubeconfig(req, "https://x", "T"))
    assert secret["metadata"] == {"name": m.HUB_SECRET, "namespace": "hub"}
    assert yaml.safe_load(secret["stringData"]["partner.kubeconfig"])["users"][0]["user"]["token"] == "T"
    assert "|" in m.dump(secret)  # the kubeconfig stays readable


def test_entry_is_valid_federation_config(tmp_path):
    kubeconfig = tmp_path / "partner.kubeconfig"
    kubeconfig.write_text(m.dump(m.hub_kubeconfig(request(access="tunnel"), "https://127.0.0.1:6443", "T")))
    entry = m.federation_entry(request(access="tunnel"), str(kubeconfig))
    member = parse_member_cluster(0, entry)
    assert (member.name, member.namespace, member.context, member.access) == ("partner", "jhub", "partner", "tunnel")
    assert m.federation_entry(request())["kubeconfig"] == "/etc/fedspawner/partner.kubeconfig"
    values = m.values_snippet(entry)
    assert values["hub"]["config"]["Federation"]["clusters"] == [entry]
    assert m.python_snippet(entry).startswith("c.Federation.clusters.append({'name': 'partner'")


def test_check_report_exit_status():
    ok = [Finding("ok", "create pods in jhub"), Finding("limited", "nodes are not visible", "up to")]
    text, status = report(ok, "ctx")
    assert status == 0 and '"up to"' in text
    text, status = report(ok + [Finding("MISSING", "cannot create pods", "the spawner is unusable")], "ctx")
    assert status == 1 and "NOT USABLE" in text and "the spawner is unusable" in text
