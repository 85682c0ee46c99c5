"""``fedspawner join`` and ``fedspawner leave``: onboarding a member cluster, run by its admin.

``join`` makes the hub's namespace-scoped credential in the member cluster and prints
(or writes to ``--output``) what the hub's admin needs: the kubeconfig Secret for the
hub's namespace and the member's ``Federation.clusters`` entry, as Python and as
zero-to-jupyterhub values. ``join --check`` runs on the hub's side and says what a
credential can and cannot do. ``leave`` removes exactly what join made.

Exit status: 0 done, 1 the cluster refused or something required is missing,
2 a bad argument (unknown context, bad --quota, invalid name).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from ..federation.model import ACCESS_MODES, ACCESS_TUNNEL
from . import join_manifests as m
from .check import check, report
from .join_apply import join
from .join_kube import JoinError, connect
from .leave import leave, summary


def register(subparsers) -> None:
    parser = subparsers.add_parser("join", help="onboard a member cluster (run by its admin), or --check a credential",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--context", required=True, help="the kubeconfig context (admin of the member cluster; "
                        "with --check: the hub's credential)")
    parser.add_argument("--namespace", required=True, help="the namespace the hub gets on the member cluster")
    parser.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
    parser.add_argument("--name", help="the member's name in the federation (default: the context's name)")
    parser.add_argument("--quota", help="a ResourceQuota for the namespace: gpus=N (NVIDIA), amd-gpus=N, "
                        "cpu=..., memory=..., pods=..., or full names (requests.nvidia.com/gpu=N)")
    parser.add_argument("--inventory-reader", action="store_true",
                        help="also grant read-only list/watch of nodes and pods cluster-wide (exact GPU numbers)")
    token = parser.add_mutually_exclusive_group()
    token.add_argument("--token-duration", default="720h",
                       help="lifetime of the hub's token, from a TokenRequest (default 720h; run join again "
                       "before it ends for a new one)")
    token.add_argument("--token-secret", action="store_true",
                       help="a long-lived token Secret instead (valid until `fedspawner leave`)")
    parser.add_argument("--access", choices=ACCESS_MODES, default=ACCESS_TUNNEL,
                        help="how the hub reaches servers there (default tunnel: namespace rights suffice)")
    parser.add_argument("--hub-namespace", default="jupyterhub", help="the hub's namespace, for the Secret")
    parser.add_argument("--output", type=Path, help="write the hub's files to this directory instead of printing")
    parser.add_argument("--check", action="store_true", help="from the hub's side: check what the credential "
                        "of --context can do in --namespace, and what the gaps mean")
    parser.set_defaults(run=run_join)

    leave_parser = subparsers.add_parser("leave", help="remove what `fedspawner join` made in a member cluster",
                                         description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    leave_parser.add_argument("--context", required=True, help="an admin context of the member cluster")
    leave_parser.add_argument("--namespace", required=True, help="the namespace join was run for")
    leave_parser.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
    leave_parser.add_argument("--delete-namespace", action="store_true",
                              help="also delete the namespace, if join created it (and everything in it)")
    leave_parser.set_defaults(run=run_leave)


def request_from(args: argparse.Namespace) -> m.JoinRequest:
    """Validate the arguments (JoinInputError names the bad one)."""
    namespace = m.check_name(args.namespace, "--namespace")
    cluster = m.check_name(args.name or args.context, "--name" if args.name else
                           "the context's name (pass --name CLUSTER)")
    if len(cluster) > 40:
        raise m.JoinInputError(f"cluster name {cluster!r} is longer than 40 characters; pass a shorter --name")
    return m.JoinRequest(cluster=cluster, namespace=namespace, quota=m.parse_quota(args.quota),
                         inventory_reader=args.inventory_reader,
                         token_seconds=None if args.token_secret else m.parse_duration(args.token_duration),
                         access=args.access, hub_namespace=m.check_name(args.hub_namespace, "--hub-namespace"))


def hub_files(req: m.JoinRequest, kubeconfig: dict) -> dict[str, str]:
    """File name -> content of what the hub's admin needs."""
    entry = m.federation_entry(req)
    return {
        req.kubeconfig_key: m.dump(kubeconfig),
        f"{req.cluster}-kubeconfig-secret.yaml": m.dump(m.hub_secret(req, kubeconfig)),
        f"{req.cluster}-values.yaml": m.dump(m.values_snippet(entry)),
        f"{req.cluster}-federation.py": m.python_snippet(entry),
    }


def printed(req: m.JoinRequest, files: dict[str, str]) -> str:
    """The hub's material as one YAML stream (Python snippet as comments)."""
    python = "".join(f"#   {line}\n" for line in files[f"{req.cluster}-federation.py"].splitlines())
    return (f"# For the hub's admin. 1) the kubeconfig Secret (kubectl apply -n {req.hub_namespace} -f -;\n"
            f"#    with several members, one Secret {m.HUB_SECRET} holds one key per member):\n---\n"
            f"{files[f'{req.cluster}-kubeconfig-secret.yaml']}"
            "# 2) zero-to-jupyterhub values (merge into hub.config.Federation.clusters):\n---\n"
            f"{files[f'{req.cluster}-values.yaml']}"
            f"# or in jupyterhub_config.py:\n{python}")


async def _join(args: argparse.Namespace, req: m.JoinRequest) -> int:
    async with connect(args.kubeconfig, args.context) as (target, api):
        outcomes, token = await join(api, req)
    log = [o.line() for o in outcomes]
    if all(o.action in ("unchanged", "exists") for o in outcomes):
        log.append(f"nothing changed: namespace {req.namespace} was already joined as {req.cluster}")
    if req.token_seconds is not None:
        log.append(f"issued a token valid {req.token_seconds // 3600}h (TokenRequest; earlier ones stay valid "
                   "until they expire); run join again before then")
    print("\n".join(log), file=sys.stderr)
    kubeconfig = m.hub_kubeconfig(req, target.server, token, target.ca_data, target.insecure)
    files = hub_files(req, kubeconfig)
    if args.output:
        args.output.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            path = args.output / name
            path.write_text(text)
            path.chmod(0o600)
        print(f"wrote {', '.join(sorted(files))} to {args.output}", file=sys.stderr)
    else:
        print(printed(req, files), end="")
    return 0


async def _check(args: argparse.Namespace) -> int:
    namespace = m.check_name(args.namespace, "--namespace")
    async with connect(args.kubeconfig, args.context) as (target, api):
        text, status = report(await check(api, namespace),
                              f"context {args.context} of {target.kubeconfig} ({target.server}), namespace {namespace}")
    print(text)
    return status


def _guarded(coro_factory) -> int:
    try:
        return asyncio.run(coro_factory())
    except m.JoinInputError as err:
        print(f"fedspawner: {err}", file=sys.stderr)
        return 2
    except JoinError as err:
        print(f"fedspawner: {err}", file=sys.stderr)
        return 1


def run_join(args: argparse.Namespace) -> int:
    if args.check:
        return _guarded(lambda: _check(args))
    try:
        req = request_from(args)
    except m.JoinInputError as err:
        print(f"fedspawner: {err}", file=sys.stderr)
        return 2
    return _guarded(lambda: _join(args, req))


def run_leave(args: argparse.Namespace) -> int:
    async def go() -> int:
        namespace = m.check_name(args.namespace, "--namespace")
        async with connect(args.kubeconfig, args.context) as (_target, api):
            outcomes = await leave(api, namespace, args.delete_namespace)
        print(summary(outcomes, namespace))
        return 0
    return _guarded(go)
