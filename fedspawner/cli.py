"""The ``fedspawner`` command."""

from __future__ import annotations

import argparse
import sys

from .client import autoload as autoload_cli
from .demo import cli as demo_cli
from .deploy import join_cli
from .federation import cli as clusters_cli
from .federation.config import FederationConfigError
from .gateway import cli as gateway_cli
from .sandbox import SandboxError, TopologyError
from .sandbox import cli as sandbox_cli
from .sandbox.binaries import BuildError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fedspawner", description="fedspawner: one JupyterHub, many clusters.")
    subparsers = parser.add_subparsers(dest="command", required=True)
    sandbox_cli.register(subparsers)
    clusters_cli.register(subparsers)
    gateway_cli.register(subparsers)
    demo_cli.register(subparsers)
    autoload_cli.register(subparsers)
    join_cli.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (SandboxError, TopologyError, BuildError, FederationConfigError) as err:
        print(f"fedspawner: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("fedspawner: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
