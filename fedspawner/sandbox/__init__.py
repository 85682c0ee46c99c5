"""The sandbox: real Kubernetes control planes on one machine, with GPU-typed nodes.

Several independent clusters (etcd, kube-apiserver, kube-scheduler,
kube-controller-manager each), a node agent that runs pods as local processes on
loopback addresses, and kwok for large numbers of simulated nodes. It is the demo's
default federation and the ground for every integration test.

The exports load on first use: the builders (``binaries``, ``workload``, ``chp``,
``operators.build``) need only the standard library, so set-up runs them with the bare
interpreter while the virtualenv is still being installed.
"""

from __future__ import annotations

import importlib

_EXPORTS = {"Sandbox": "manager", "SandboxError": "manager", "default_state_dir": "manager",
            "TopologyError": "topology", "load_topology": "topology"}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
