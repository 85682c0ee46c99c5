"""``fedspawner sandbox up|down|status|env``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .binaries import ensure_binaries
from .manager import Sandbox
from .operators.build import ensure_operators
from .operator_catalog import OPERATORS
from .topology import PORTS_PER_CLUSTER
from .workload import ensure_jax_env, ensure_workload_env


def register(subparsers) -> None:
    parser = subparsers.add_parser("sandbox", help="run a federation of real Kubernetes clusters on this machine",
                                   description=__doc__)
    parser.add_argument("--state-dir", type=Path, default=None,
                        help="where the sandbox keeps its state (default: $FEDSPAWNER_SANDBOX_DIR or "
                             "~/.local/state/fedspawner/sandbox)")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="up|down|status|env|build")
    up = verbs.add_parser("up", help="start the clusters")
    up.add_argument("--clusters", type=int, default=None, help="start only the topology's first N clusters")
    up.add_argument("--topology", type=Path, default=None, help="topology YAML (default: the built-in federation)")
    up.add_argument("--base-port", type=int, default=None,
                    help=f"first loopback port ({PORTS_PER_CLUSTER} per cluster)")
    verbs.add_parser("down", help="stop every sandbox process and remove its data")
    status = verbs.add_parser("status", help="show each cluster's health")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    verbs.add_parser("env", help="print the KUBECONFIG export for the sandbox")
    build = verbs.add_parser("build", help="build the sandbox binaries now (up builds them when missing)")
    build.add_argument("--workload", action="store_true",
                       help="also install the PyTorch + PySpark environment that job images run in (~3 GB)")
    build.add_argument("--operators", action="store_true",
                       help="also build every operator a topology may run (JobSet, Trainer, Kueue, the Spark "
                            "operator; minutes on a cold cache)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    sandbox = Sandbox(args.state_dir)
    if args.verb == "up":
        sandbox.up(args.topology, clusters=args.clusters, base_port=args.base_port)
        print(sandbox.env())
        return 0
    if args.verb == "down":
        print(sandbox.down())
        return 0
    if args.verb == "build":
        bins = ensure_binaries()
        print(f"sandbox binaries ready: {bins.kubebin}, {bins.kwok}, {bins.bindshim}")
        if args.operators:
            for name, op in ensure_operators(list(OPERATORS)).items():
                print(f"operator {name} ready: {op.binary}")
        if args.workload:
            print(f"workload environment ready: {ensure_workload_env()}")
            print(f"JAX environment ready: {ensure_jax_env()}")
        return 0
    if args.verb == "env":
        print(sandbox.env())
        return 0
    health = sandbox.status()
    if args.json:
        print(json.dumps([h.__dict__ | {"healthy": h.healthy} for h in health], indent=1))
    else:
        for h in health:
            comps = " ".join(f"{name}={'up' if ok else 'DOWN'}" for name, ok in h.components.items())
            nodes = f"{h.nodes_ready}/{h.nodes_total} nodes ready" if h.nodes_total is not None else "nodes unknown"
            print(f"{h.name:12} {'healthy' if h.healthy else 'UNHEALTHY':9} {h.server}  {nodes}  {comps}")
    return 0 if all(h.healthy for h in health) else 1
