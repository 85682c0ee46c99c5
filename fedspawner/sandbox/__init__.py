"""The sandbox: real Kubernetes control planes on one machine, with GPU-typed nodes.

Several independent clusters (etcd, kube-apiserver, kube-scheduler,
kube-controller-manager each), a node agent that runs pods as local processes on
loopback addresses, and kwok for large numbers of simulated nodes. It is the demo's
default federation and the ground for every integration test.
"""

from .manager import Sandbox, SandboxError, default_state_dir
from .topology import TopologyError, load_topology

__all__ = ["Sandbox", "SandboxError", "TopologyError", "default_state_dir", "load_topology"]
