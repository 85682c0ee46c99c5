"""Topology validation and the components' command lines (pure, no cluster)."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import pytest
import yaml

from fedspawner.sandbox import components
from fedspawner.sandbox.binaries import Binaries, sources_dir
from fedspawner.sandbox.topology import PORTS_PER_CLUSTER, TopologyError, load_topology, parse_topology

DEFAULT = sources_dir() / "topologies" / "default.yaml"
SCALE = sources_dir() / "topologies" / "scale.yaml"
BINS = Binaries(kubebin=Path("/cache/kubebin"), kwok=Path("/cache/kwok"), bindshim=Path("/cache/shim.so"))


def test_default_topology_is_a_realistic_federation():
    topo = load_topology(DEFAULT)
    assert [c.name for c in topo.clusters] == ["onprem", "regional", "burst"]
    labels = {(k, v) for c in topo.clusters for g in c.node_groups for k, v in g.labels.items()}
    # Each organisation labels GPUs its own way, as in real federations.
    assert ("nvidia.com/gpu.product", "NVIDIA-A100-SXM4-40GB") in labels
    assert ("cloud.google.com/gke-accelerator", "nvidia-h100-80gb") in labels
    assert ("nvidia.com/mig.strategy", "mixed") in labels
    assert ("amd.com/gpu.product-name", "AMD_Instinct_MI210") in labels
    burst = topo.cluster("burst")
    h100 = next(g for g in burst.node_groups if g.name == "h100")
    assert [(t.key, t.effect) for t in h100.taints] == [("nvidia.com/gpu", "NoSchedule")]
    assert topo.cluster("onprem").quota == {"requests.nvidia.com/gpu": "6"}
    for c in topo.clusters:
        assert any(not g.resources for g in c.node_groups), f"{c.name} has CPU-only nodes"


def test_scale_topology_has_a_thousand_simulated_nodes():
    topo = load_topology(SCALE)
    (cluster,) = topo.clusters
    assert len(cluster.nodes("kwok")) == 1000 and not cluster.nodes("agent")


def test_clusters_option_and_base_port():
    topo = load_topology(DEFAULT, clusters=2, base_port=20000)
    assert [c.name for c in topo.clusters] == ["onprem", "regional"]
    assert topo.ports(1)["apiserver"] == 20000 + PORTS_PER_CLUSTER
    with pytest.raises(TopologyError, match="--clusters 4: .* defines 3 cluster"):
        load_topology(DEFAULT, clusters=4)


@pytest.mark.parametrize("doc,message", [
    ({"clusters": [{"name": "a", "node_groups": [{"name": "g"}]}] * 2}, "the name 'a' is used twice"),
    ({"clusters": [{"name": "a", "node_groups": [{"name": "g", "runtime": "docker"}]}]},
     "runtime: must be one of agent, kwok"),
    ({"clusters": [{"name": "a", "node_groups": [{"name": "g", "taints": [{"key": "k", "effect": "Nope"}]}]}]},
     "effect: must be one of NoSchedule"),
    ({"clusters": [{"name": "a", "node_groups": []}]}, "needs at least one node group"),
    ({"clusters": [{"name": "a", "node_groups": [{"name": "g", "count": 500}]}]}, "use runtime: kwok"),
    ({"clusters": "a"}, "clusters: expected a list"),
    ({"environments": [{"python": "/x"}], "clusters": [{"name": "a", "node_groups": [{"name": "g"}]}]},
     "environments[0].image"),
])
def test_validation_messages_say_where_and_why(doc, message):
    with pytest.raises(TopologyError, match=re.escape(message)):
        parse_topology(doc, source="t.yaml")


PRIVATE = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]


def _addresses(text: str) -> list[ipaddress.IPv4Address]:
    return [ipaddress.ip_address(m) for m in re.findall(r"(?<![\d.])(\d+\.\d+\.\d+\.\d+)(?![\d.])", text)]


def test_every_address_the_sandbox_configures_is_loopback(tmp_path):
    """Nothing in the sandbox may point anything at a private-range address."""
    for topo_path in (DEFAULT, SCALE):
        topo = load_topology(topo_path)
        for c in components.layouts(topo, tmp_path):
            argvs = [components.etcd_argv(BINS, c), components.apiserver_argv(BINS, c),
                     components.controller_manager_argv(BINS, c), components.scheduler_argv(BINS, c),
                     components.kwok_argv(BINS, c)]
            text = " ".join(" ".join(a) for a in argvs) + yaml.safe_dump(components.agent_config(BINS, topo, c))
            text += " " + c.pod_ip_prefix + ".0.0 " + c.service_cidr
            addresses = _addresses(text)
            assert addresses
            for addr in addresses:
                assert addr.is_loopback, (c.spec.name, addr)
                assert not any(addr in net for net in PRIVATE)


def test_agent_config_lists_only_agent_nodes_with_capacity(tmp_path, monkeypatch):
    monkeypatch.delenv(components.ADDRESS_BLOCK_ENV, raising=False)
    topo = load_topology(DEFAULT)
    onprem = components.layouts(topo, tmp_path)[0]
    cfg = components.agent_config(BINS, topo, onprem)
    names = [n["name"] for n in cfg["nodes"]]
    assert names == ["a100-0", "a100-1", "mi210-0", "cpu-0", "cpu-1"]
    a100 = cfg["nodes"][0]
    assert a100["capacity"]["nvidia.com/gpu"] == "4" and a100["capacity"]["cpu"] == "64"
    assert cfg["podIPPrefix"] == "127.101" and cfg["listenAddress"].startswith("127.0.0.1:")


def test_address_blocks_keep_side_by_side_sandboxes_apart(tmp_path, monkeypatch):
    topo = load_topology(DEFAULT)
    monkeypatch.setenv(components.ADDRESS_BLOCK_ENV, "0")
    first = components.layouts(topo, tmp_path)
    monkeypatch.setenv(components.ADDRESS_BLOCK_ENV, str(components.ADDRESS_BLOCKS - 1))
    last = components.layouts(topo, tmp_path)
    assert [c.pod_ip_prefix for c in first] == ["127.101", "127.102", "127.103"]
    assert [c.pod_ip_prefix for c in last] == ["127.145", "127.146", "127.147"]
    assert last[-1].service_cidr == "127.247.0.0/16"
    kwok = [a for a in components.kwok_argv(BINS, last[-1]) if a.startswith("--cidr=")]
    assert kwok == ["--cidr=127.197.0.0/16"]
    ranges = {c.pod_ip_prefix for c in first + last} | {c.service_cidr for c in first + last}
    assert len(ranges) == 12


@pytest.mark.parametrize("value", ["12", "-1", "two"])
def test_address_block_out_of_range_says_which_values_work(tmp_path, monkeypatch, value):
    monkeypatch.setenv(components.ADDRESS_BLOCK_ENV, value)
    with pytest.raises(TopologyError, match="from 0 to 11"):
        components.layouts(load_topology(DEFAULT), tmp_path)
