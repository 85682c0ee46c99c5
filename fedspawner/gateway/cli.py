"""``fedspawner gateway --config FILE``: run the gateway (as ``python -m fedspawner.gateway``)."""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser("gateway", help="run the job gateway (a JupyterHub service)",
                                   description=__doc__)
    parser.add_argument("--config", required=True, help="config file with c.Federation.* and c.Gateway.*")
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from .app import main

    main([f"--config={args.config}", f"--log-level={args.log_level}"])
    return 0
