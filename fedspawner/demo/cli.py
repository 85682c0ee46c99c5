"""``fedspawner demo``: the sandbox federation plus a real JupyterHub on 127.0.0.1:8000."""

from __future__ import annotations

import argparse
import signal
import time


from ..sandbox.manager import Sandbox, default_state_dir
from ..sandbox.workload import ensure_workload_env
from .hub_config import DEMO_GROUPS, DEMO_PASSWORD
from .runner import prepare_hub


def register(subparsers) -> None:
    parser = subparsers.add_parser("demo", help="run the demo hub over the sandbox federation",
                                   description=__doc__)
    parser.add_argument("--port", type=int, default=8000, help="public port of the hub (default 8000)")
    parser.add_argument("--keep-sandbox", action="store_true", help="leave the sandbox running on exit")
    parser.set_defaults(run=run)


BANNER = """
fedspawner demo is running: {url}

  Log in as any user name with the password '{password}'
  (alice is in the groups {alice}; bob in {bob}; others in none).
  The launch form shows each cluster and GPU type with live free counts.
  Clusters: {clusters}
  kubectl-style access: export KUBECONFIG={kubeconfig}

Press Ctrl-C to stop the hub{sandbox_note}.
"""


def run(args: argparse.Namespace) -> int:
    sandbox = Sandbox(default_state_dir())
    state = sandbox.read_state()
    if not (state and state.get("ready") and sandbox.running_processes(state)):
        sandbox.up()
    ensure_workload_env()
    hub = prepare_hub(sandbox.dir.parent / "demo-hub", sandbox.dir, port=args.port)
    hub.start()
    groups_of = {u: sorted(g for g, users in DEMO_GROUPS.items() if u in users) for u in ("alice", "bob")}
    print(BANNER.format(url=hub.url, password=DEMO_PASSWORD, alice=", ".join(groups_of["alice"]),
                        bob=", ".join(groups_of["bob"]), kubeconfig=sandbox.kubeconfig,
                        clusters=", ".join(c["name"] for c in sandbox.read_state()["clusters"]),
                        sandbox_note="" if args.keep_sandbox else " and the sandbox"), flush=True)
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    try:
        while not stop["now"] and hub.proc.poll() is None:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not leave things half-stopped
        print("stopping the hub" + ("" if args.keep_sandbox else " and the sandbox"), flush=True)
        hub.stop()
        if not args.keep_sandbox:
            print(sandbox.down())
    return 0
