"""``fedspawner clusters [--json] [--config FILE]``: the federation as the hub sees it.

Reads ``c.Federation`` from the same configuration file the hub uses, connects to every
member cluster with the hub's credentials, and prints health and GPU inventory by
canonical type. Admins use it to check their set-up.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

from traitlets.config import Config, PyFileConfigLoader

from .config import Federation, FederationConfigError
from .registry import ClusterRegistry
from .views import cluster_json


def register(subparsers) -> None:
    parser = subparsers.add_parser("clusters", help="show member clusters, health and GPU inventory",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=Path("jupyterhub_config.py"),
                        help="the hub's configuration file (default: ./jupyterhub_config.py)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--wait", type=float, default=5.0, help="seconds to wait for inventories to load")
    parser.set_defaults(run=run)


def load_config(path: Path) -> Config:
    if not path.is_file():
        raise FederationConfigError(f"{path} does not exist; pass the hub's configuration with --config")
    loader = PyFileConfigLoader(path.name, path=str(path.parent.resolve()))
    return loader.load_config()


async def collect(config: Config, wait: float) -> list[dict]:
    registry = ClusterRegistry(Federation(config=config))
    await registry.start()
    try:
        await registry.wait_ready(grace=wait)
        return [{**cluster_json(c), "access": registry.members[c.name].access,
                 "namespace": registry.members[c.name].namespace} for c in registry.snapshot().clusters]
    finally:
        await registry.stop()


def format_table(clusters: list[dict]) -> str:
    lines = []
    for c in clusters:
        state = "up" if c["healthy"] else f"DOWN ({c['reason'].removeprefix('down: ')})"
        where = ", ".join(x for x in (c["site"], c["owner"]) if x)
        lines.append(f"{c['name']} — {c['display_name']}" + (f" ({where})" if where else "") +
                     f": {state}; access {c['access']}; namespace {c['namespace']}; "
                     f"{'exact numbers from nodes' if c['visibility'] == 'nodes' else 'namespace view only'}")
        for g in c["gpus"]:
            lines.append(f"    {g['type']:34} {g['note']}")
        if not c["gpus"]:
            lines.append("    (no GPUs known)")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    Federation(config=config).validate()  # first: one clear message
    clusters = asyncio.run(collect(config, args.wait))
    print(json.dumps(clusters, indent=1) if args.json else format_table(clusters))
    return 0 if all(c["healthy"] for c in clusters) else 1
