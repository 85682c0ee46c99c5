"""The ``fedspawner`` command.

``kernel-autoload`` works with the base install (a single-user image); the other commands
(``sandbox``, ``clusters``, ``gateway``, ``demo``) need the hub side,
``pip install jupyterhub-fedspawner[hub]``, and say so when it is missing.
"""

from __future__ import annotations

import argparse
import sys

from .client import autoload as autoload_cli

#: The commands that need the [hub] extra, for the message when it is not installed.
HUB_COMMANDS = ("sandbox", "clusters", "gateway", "demo", "join", "leave")


def _hub_side() -> tuple[list, tuple[type[BaseException], ...], str]:
    """The hub commands' register functions and user-error types, or why they are unavailable."""
    try:
        from .demo import cli as demo_cli
        from .federation import cli as clusters_cli
        from .federation.config import FederationConfigError
        from .gateway import cli as gateway_cli
        from .sandbox import SandboxError, TopologyError
        from .sandbox import cli as sandbox_cli
        from .sandbox.binaries import BuildError
        from .deploy import join_cli
    except ModuleNotFoundError as err:
        return [], (), err.name or str(err)
    registers = [sandbox_cli.register, clusters_cli.register, gateway_cli.register, demo_cli.register,
                 join_cli.register]
    return registers, (SandboxError, TopologyError, BuildError, FederationConfigError), ""


def _unavailable(missing: str):
    def run(args) -> int:
        print(f"fedspawner {args.command}: needs the hub side of fedspawner ({missing} is not installed); "
              "install it with: pip install 'jupyterhub-fedspawner[hub]'", file=sys.stderr)
        return 1
    return run


def build_parser() -> tuple[argparse.ArgumentParser, tuple[type[BaseException], ...]]:
    parser = argparse.ArgumentParser(prog="fedspawner", description="fedspawner: one JupyterHub, many clusters.")
    subparsers = parser.add_subparsers(dest="command", required=True)
    registers, errors, missing = _hub_side()
    for register in registers:
        register(subparsers)
    if missing:
        for name in HUB_COMMANDS:
            sub = subparsers.add_parser(name, help="needs jupyterhub-fedspawner[hub]", add_help=False)
            sub.set_defaults(run=_unavailable(missing))
            sub.add_argument("rest", nargs=argparse.REMAINDER)
    autoload_cli.register(subparsers)
    return parser, errors


def main(argv: list[str] | None = None) -> int:
    parser, user_errors = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except user_errors as err:
        print(f"fedspawner: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("fedspawner: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
