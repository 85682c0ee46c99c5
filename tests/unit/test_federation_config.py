"""Member-cluster configuration: every mistake names the cluster and field."""

from __future__ import annotations

import pytest

from fedspawner.federation.config import FederationConfigError, parse_member_clusters


@pytest.fixture
def kubeconfig(tmp_path):
    path = tmp_path / "kubeconfig"
    path.write_text("apiVersion: v1\nkind: Config\ncurrent-context: onprem\n"
                    "contexts:\n- name: onprem\n  context: {cluster: c, user: u}\n"
                    "- name: onprem-reader\n  context: {cluster: c, user: r}\n")
    return str(path)


def test_valid_entries(kubeconfig):
    clusters = parse_member_clusters([
        {"name": "onprem", "kubeconfig": kubeconfig, "context": "onprem", "namespace": "jhub",
         "capacity": {"nvidia-a100-40gb": 8}, "gpu_convention": "gfd", "allowed_groups": ["gpu"],
         "access": "tunnel", "labels": {"data": "eos"}, "cost_weight": 2},
        {"name": "cloud", "in_cluster": True, "access": "ingress", "ingress": {"host": "nb.example.org"}},
    ])
    assert clusters[0].allowed_groups == frozenset({"gpu"}) and clusters[0].cost_weight == 2.0
    assert clusters[1].ingress.host == "nb.example.org" and clusters[1].namespace == "default"


@pytest.mark.parametrize("entry,message", [
    ({"name": "a"}, "Federation.clusters[0] (a): field 'kubeconfig' is required"),
    ({"name": "A_B", "in_cluster": True}, "field 'name' 'A_B' must be lower-case"),
    ({"name": "a", "in_cluster": True, "access": "vpn"}, "field 'access' must be one of direct, ingress, tunnel"),
    ({"name": "a", "in_cluster": True, "access": "ingress"}, "field 'ingress' must give at least a host"),
    ({"name": "a", "in_cluster": True, "cost_weight": 0}, "field 'cost_weight' must be a positive number"),
    ({"name": "a", "in_cluster": True, "capacity": {"nvidia-a100-40gb": -1}}, "field 'capacity' must map"),
    ({"name": "a", "in_cluster": True, "capacity": {"a100": 2}}, "field 'capacity' 'a100'"),
    ({"name": "a", "in_cluster": True, "capacity": {"l4": 2, "nvidia-l4": 1}}, "names nvidia-l4 a second time"),
    ({"name": "auto", "in_cluster": True}, "field 'name' 'auto' is reserved"),
    ({"name": "a", "in_cluster": True, "gpu_convention": "nvidia"}, "field 'gpu_convention' must be one of"),
    ({"name": "a", "in_cluster": True, "label_mappings": [{"key": "x"}]}, "field 'label_mappings[0]'"),
    ({"name": "a", "in_cluster": True, "colour": "red"}, "field 'colour' is not known"),
    ({"name": "a", "kubeconfig": "/nonexistent/kc"}, "names /nonexistent/kc, which does not exist"),
])
def test_mistakes_name_cluster_and_field(entry, message):
    with pytest.raises(FederationConfigError) as err:
        parse_member_clusters([entry])
    assert message in str(err.value)


def test_duplicate_names_and_empty_list():
    with pytest.raises(FederationConfigError, match="used by another cluster"):
        parse_member_clusters([{"name": "a", "in_cluster": True}, {"name": "a", "in_cluster": True}])
    with pytest.raises(FederationConfigError, match="at least one member cluster"):
        parse_member_clusters([])


def test_capacity_keys_become_canonical(kubeconfig):
    (cluster,) = parse_member_clusters([{"name": "a", "in_cluster": True,
                                         "capacity": {"L4": 4, "A100-80GB": 2}, "gpu_convention": "gfd"}])
    assert cluster.capacity == {"nvidia-l4": 4, "nvidia-a100-80gb": 2}


def test_federation_wide_settings_are_checked():
    from traitlets.config import Config

    from fedspawner.federation.config import Federation

    c = Config()
    c.Federation.clusters = [{"name": "a", "in_cluster": True}]
    c.Federation.placement_policy = "Pack"
    with pytest.raises(FederationConfigError, match="'placement_policy' must be one of pack, spread"):
        Federation(config=c).validate()
    c.Federation.placement_policy = "spread"
    c.Federation.label_mappings = [{"key": "site/gpu", "value": "x", "gpu": "a100"}]
    with pytest.raises(FederationConfigError, match=r"label_mappings\[0\]"):
        Federation(config=c).validate()


@pytest.mark.parametrize("entry,message", [
    ({"context": "nope"}, "(a): field 'context' names 'nope', which {kc} does not define (its contexts: "
                          "onprem, onprem-reader)"),
    ({"context": "onprem", "inventory_context": "reader"}, "(a): field 'inventory_context' names 'reader'"),
    ({"context": "onprem", "namespace": "Team_A"}, "(a): field 'namespace' 'Team_A' is not a Kubernetes namespace"),
    ({"context": "onprem", "namespace": "x" * 64}, "field 'namespace'"),
    ({"context": "onprem", "namespace": ""}, "field 'namespace' '' is not a Kubernetes namespace"),
    ({"context": "onprem", "hub_url": "hub.example.org"}, "field 'hub_url' must be an http(s) URL"),
    ({"context": "onprem", "cost_weight": float("inf")}, "field 'cost_weight' must be a positive number"),
    ({"context": "onprem", "labels": {"zone": ["a"]}}, "field 'labels' must be a mapping of names to strings"),
    ({"context": "onprem", "allowed_groups": [""]}, "field 'allowed_groups' must be a list of group names"),
    ({"context": "onprem", "ingress": {"host": "nb.example.org"}}, "field 'ingress' is only used with access"),
    ({"context": "onprem", "access": "ingress", "ingress": {"host": "nb example"}}, "field 'ingress.host'"),
    ({"context": "onprem", "access": "ingress", "ingress": {"host": "nb.example.org", "scheme": "ftp"}},
     "field 'ingress.scheme' must be http or https"),
    ({"context": "onprem", "access": "ingress", "ingress": {"host": "nb.example.org", "tls_secret": "A B"}},
     "field 'ingress.tls_secret' must be a Kubernetes object name"),
])
def test_mistakes_against_the_kubeconfig_and_kubernetes_names(kubeconfig, entry, message):
    with pytest.raises(FederationConfigError) as err:
        parse_member_clusters([{"name": "a", "kubeconfig": kubeconfig, **entry}])
    assert message.format(kc=kubeconfig) in str(err.value)


def test_no_context_needs_a_current_context(tmp_path):
    path = tmp_path / "kc"
    path.write_text("apiVersion: v1\nkind: Config\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\n")
    with pytest.raises(FederationConfigError, match="field 'context' is required: .* has no current context"):
        parse_member_clusters([{"name": "a", "kubeconfig": str(path)}])
    path.write_text("{not yaml")
    with pytest.raises(FederationConfigError, match="field 'kubeconfig' names .* which is not valid YAML"):
        parse_member_clusters([{"name": "a", "kubeconfig": str(path), "context": "x"}])
    with pytest.raises(FederationConfigError, match="field 'context' names 'x', but there is no kubeconfig"):
        parse_member_clusters([{"name": "a", "in_cluster": True, "context": "x"}])


def test_federation_urls_and_probe_times_are_checked():
    from traitlets.config import Config

    from fedspawner.federation.config import Federation

    c = Config()
    c.Federation.clusters = [{"name": "a", "in_cluster": True}]
    c.Federation.public_hub_url = "//hub"
    with pytest.raises(FederationConfigError, match="field 'public_hub_url' must be an http"):
        Federation(config=c).validate()
    c.Federation.public_hub_url = "https://hub.example.org"
    c.Federation.health_timeout = 0.0
    with pytest.raises(FederationConfigError, match="field 'health_timeout' must be a positive number"):
        Federation(config=c).validate()
