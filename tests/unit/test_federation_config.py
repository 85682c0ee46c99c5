"""Member-cluster configuration: every mistake names the cluster and field."""

from __future__ import annotations

import pytest

from fedspawner.federation.config import FederationConfigError, parse_member_clusters


@pytest.fixture
def kubeconfig(tmp_path):
    path = tmp_path / "kubeconfig"
    path.write_text("apiVersion: v1\nkind: Config\n")
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


async def test_a_context_missing_from_the_kubeconfig_is_a_config_error(kubeconfig):
    from fedspawner.federation.registry import api_client_for

    (member,) = parse_member_clusters([{"name": "a", "kubeconfig": kubeconfig, "context": "nope"}])
    with pytest.raises(FederationConfigError, match="cluster a: cannot load context nope of"):
        await api_client_for(member)
