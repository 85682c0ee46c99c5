"""Command lines of one sandbox cluster's components.

Pure functions: given where a cluster lives (its directory and ports), return the argv
of etcd, kube-apiserver, kube-controller-manager, kube-scheduler, the node agent and
kwok. Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..digits import whole_number
from .binaries import Binaries
from .pki import ClusterPKI
from .topology import ClusterSpec, Topology, TopologyError

LOOPBACK = "127.0.0.1"
#: Several sandboxes can run side by side (e.g. parallel test sessions) when each uses its
#: own address block: block k shifts every cluster's pod, kwok and service octets by 4·k.
ADDRESS_BLOCK_ENV = "FEDSPAWNER_SANDBOX_ADDRESS_BLOCK"
ADDRESS_BLOCKS = 12
ADDRESS_BLOCK_SIZE = 4


@dataclass(frozen=True)
class ClusterLayout:
    """Where one cluster's files and ports are."""

    spec: ClusterSpec
    index: int
    dir: Path
    ports: dict[str, int]
    address_index: int  # index shifted by the address block: picks the cluster's loopback ranges

    @property
    def pki(self) -> ClusterPKI:
        return ClusterPKI(self.dir / "pki")

    @property
    def agent_config_path(self) -> Path:
        return self.dir / "agent.json"

    @property
    def admin_kubeconfig(self) -> Path:
        return self.dir / "admin.kubeconfig"

    @property
    def server(self) -> str:
        return f"https://{LOOPBACK}:{self.ports['apiserver']}"

    @property
    def pod_ip_prefix(self) -> str:
        """Pods of the index-th cluster get 127.(101+index).<node>.<n> (shifted by the address block)."""
        return f"127.{101 + self.address_index}"

    @property
    def service_cidr(self) -> str:
        return f"127.{201 + self.address_index}.0.0/16"

    def log(self, component: str) -> Path:
        return self.dir / "logs" / f"{component}.log"


def address_block() -> int:
    """The address block from ``FEDSPAWNER_SANDBOX_ADDRESS_BLOCK`` (0 when unset)."""
    raw = os.environ.get(ADDRESS_BLOCK_ENV, "0") or "0"
    block = whole_number(raw)
    if block is None or block >= ADDRESS_BLOCKS:
        raise TopologyError(f"{ADDRESS_BLOCK_ENV}={raw!r}: use a number from 0 to {ADDRESS_BLOCKS - 1}")
    return block


def layouts(topology: Topology, state_dir: Path) -> list[ClusterLayout]:
    shift = ADDRESS_BLOCK_SIZE * address_block()
    if shift and len(topology.clusters) > ADDRESS_BLOCK_SIZE:
        raise TopologyError(f"{ADDRESS_BLOCK_ENV} needs a topology of at most {ADDRESS_BLOCK_SIZE} clusters")
    return [ClusterLayout(spec=c, index=i, dir=state_dir / "clusters" / c.name, ports=topology.ports(i),
                          address_index=i + shift)
            for i, c in enumerate(topology.clusters)]


def etcd_argv(bins: Binaries, c: ClusterLayout) -> list[str]:
    client = f"http://{LOOPBACK}:{c.ports['etcd']}"
    peer = f"http://{LOOPBACK}:{c.ports['etcd-peer']}"
    return [str(bins.kubebin), "etcd",
            f"--name={c.spec.name}", f"--data-dir={c.dir / 'etcd'}",
            f"--listen-client-urls={client}", f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}", f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster={c.spec.name}={peer}",
            "--unsafe-no-fsync", "--log-level=warn", "--quota-backend-bytes=4294967296"]


def apiserver_argv(bins: Binaries, c: ClusterLayout) -> list[str]:
    pki = c.pki
    return [str(bins.kubebin), "kube-apiserver",
            f"--etcd-servers=http://{LOOPBACK}:{c.ports['etcd']}",
            f"--bind-address={LOOPBACK}", f"--advertise-address={LOOPBACK}",
            f"--secure-port={c.ports['apiserver']}",
            f"--tls-cert-file={pki.cert('apiserver')}", f"--tls-private-key-file={pki.key('apiserver')}",
            f"--client-ca-file={pki.cert('ca')}",
            f"--service-account-key-file={pki.sa_public}",
            f"--service-account-signing-key-file={pki.key('sa')}",
            f"--service-account-issuer={c.server}",
            f"--service-cluster-ip-range={c.service_cidr}",
            "--authorization-mode=Node,RBAC",
            f"--kubelet-client-certificate={pki.cert('kubelet-client')}",
            f"--kubelet-client-key={pki.key('kubelet-client')}",
            f"--kubelet-certificate-authority={pki.cert('ca')}",
            "--kubelet-preferred-address-types=InternalIP",
            "--allow-privileged=true",
            "--endpoint-reconciler-type=none",  # the kubernetes service would point at loopback
            "--enable-priority-and-fairness=false",
            "--profiling=false",
            "--event-ttl=1h"]


def _component_common(c: ClusterLayout, port: int) -> list[str]:
    kc = str(c.admin_kubeconfig)
    return [f"--kubeconfig={kc}", f"--authentication-kubeconfig={kc}", f"--authorization-kubeconfig={kc}",
            f"--bind-address={LOOPBACK}", f"--secure-port={port}", "--leader-elect=false", "--profiling=false"]


def controller_manager_argv(bins: Binaries, c: ClusterLayout) -> list[str]:
    pki = c.pki
    return [str(bins.kubebin), "kube-controller-manager", *_component_common(c, c.ports["controller-manager"]),
            f"--service-account-private-key-file={pki.key('sa')}",
            f"--root-ca-file={pki.cert('ca')}",
            f"--cluster-signing-cert-file={pki.cert('ca')}", f"--cluster-signing-key-file={pki.key('ca')}",
            f"--service-cluster-ip-range={c.service_cidr}"]


def scheduler_argv(bins: Binaries, c: ClusterLayout) -> list[str]:
    return [str(bins.kubebin), "kube-scheduler", *_component_common(c, c.ports["scheduler"])]


def agent_config(bins: Binaries, topology: Topology, c: ClusterLayout) -> dict:
    """The node agent's JSON configuration for this cluster's ``runtime: agent`` nodes."""
    pki = c.pki
    nodes = []
    for name, group in c.spec.nodes("agent"):
        nodes.append({
            "name": name,
            "labels": {**group.labels, "fedspawner.dev/node-group": group.name},
            "taints": [{"key": t.key, "value": t.value, "effect": t.effect} for t in group.taints],
            "capacity": group.capacity(),
        })
    return {
        "cluster": c.spec.name,
        "kubeconfig": str(c.admin_kubeconfig),
        "apiServerHost": LOOPBACK,
        "apiServerPort": c.ports["apiserver"],
        "listenAddress": f"{LOOPBACK}:{c.ports['agent']}",
        "nodeAddress": LOOPBACK,
        "tlsCert": str(pki.cert("agent")),
        "tlsKey": str(pki.key("agent")),
        "clientCA": str(pki.cert("ca")),
        "podIPPrefix": c.pod_ip_prefix,
        "stateDir": str(c.dir / "agent"),
        "preload": str(bins.bindshim),
        "environments": [{"image": e.image, "bin": e.bin_dir()} for e in topology.environments],
        "nodes": nodes,
    }


def agent_argv(bins: Binaries, c: ClusterLayout) -> list[str]:
    """The node agent reads its configuration (``agent_config``) from ``agent_config_path``."""
    return [str(bins.kubebin), "node-agent", f"--config={c.agent_config_path}"]


KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"


def kwok_argv(bins: Binaries, c: ClusterLayout) -> list[str]:
    # kwok pods get loopback addresses too: nothing may ever point at a private range.
    return [str(bins.kwok), f"--kubeconfig={c.admin_kubeconfig}",
            f"--manage-nodes-with-annotation-selector={KWOK_NODE_ANNOTATION}=fake",
            f"--cidr=127.{151 + c.address_index}.0.0/16", f"--node-ip={LOOPBACK}",
            "--node-lease-duration-seconds=40"]
