"""Talking to a member cluster for join, leave and check: one client per context, one-line errors.

``connect`` loads one context of a kubeconfig (never the process-global default) and
turns every way that can fail into ``JoinInputError`` (the admin named something that
does not exist: exit 2) or ``JoinError`` (the cluster refused or did not answer: exit 1).
``KINDS`` maps the kinds join creates to their typed API calls.
"""

from __future__ import annotations

import asyncio
import base64
import os
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import yaml
from kubernetes_asyncio import client, config as kube_config
from kubernetes_asyncio.client.rest import ApiException

from ..errors import UserError
from .join_manifests import JoinInputError

REQUEST_TIMEOUT = 15


class JoinError(UserError, RuntimeError):
    """The member cluster refused or could not be reached; the message says what to do."""


@dataclass(frozen=True)
class Target:
    """Where a context points: the kubeconfig, the context, its server and CA."""

    kubeconfig: Path
    context: str
    server: str
    ca_data: str | None
    insecure: bool


def kubeconfig_path(path: str | Path | None) -> Path:
    """``--kubeconfig``, else the first file of ``$KUBECONFIG``, else ``~/.kube/config``."""
    if path:
        return Path(path).expanduser()
    env = os.environ.get("KUBECONFIG", "")
    first = next((p for p in env.split(os.pathsep) if p), None)
    return Path(first).expanduser() if first else Path.home() / ".kube" / "config"


def resolve(path: str | Path | None, context: str) -> Target:
    """Read the context's server and CA from the kubeconfig (JoinInputError if it is not there)."""
    file = kubeconfig_path(path)
    try:
        raw = yaml.safe_load(file.read_text()) or {}
    except OSError as err:
        raise JoinInputError(f"cannot read kubeconfig {file}: {err.strerror}; pass --kubeconfig FILE") from None
    except yaml.YAMLError:
        raise JoinInputError(f"{file} is not a kubeconfig (not YAML)") from None
    contexts = {c.get("name"): c.get("context") or {} for c in raw.get("contexts") or [] if isinstance(c, dict)}
    if context not in contexts:
        known = ", ".join(sorted(str(c) for c in contexts)) or "none"
        raise JoinInputError(f"context {context!r} is not in {file} (contexts there: {known})")
    clusters = {c.get("name"): c.get("cluster") or {} for c in raw.get("clusters") or [] if isinstance(c, dict)}
    cluster = clusters.get(contexts[context].get("cluster"))
    if not cluster or not cluster.get("server"):
        raise JoinInputError(f"context {context!r} of {file} names no cluster with a server")
    ca_data = cluster.get("certificate-authority-data")
    if not ca_data and cluster.get("certificate-authority"):
        ca_file = Path(cluster["certificate-authority"])
        ca_file = ca_file if ca_file.is_absolute() else file.parent / ca_file
        try:
            ca_data = base64.b64encode(ca_file.read_bytes()).decode()
        except OSError as err:
            raise JoinInputError(f"cannot read the CA {ca_file} of context {context!r}: {err.strerror}") from None
    return Target(file, context, cluster["server"], ca_data, bool(cluster.get("insecure-skip-tls-verify")))


@asynccontextmanager
async def connect(path: str | Path | None, context: str):
    """``async with connect(kubeconfig, context) as (target, api)``: a checked, private client."""
    target = resolve(path, context)
    try:
        api = await kube_config.new_client_from_config(config_file=str(target.kubeconfig), context=context,
                                                       persist_config=False)
    except (kube_config.ConfigException, OSError, ValueError) as err:
        raise JoinInputError(f"cannot use context {context!r} of {target.kubeconfig}: {err}") from None
    try:
        try:
            await asyncio.wait_for(client.VersionApi(api).get_code(), REQUEST_TIMEOUT)
        except (asyncio.TimeoutError, aiohttp.ClientError, OSError) as err:
            raise JoinError(f"the apiserver {target.server} of context {context!r} does not answer "
                            f"({type(err).__name__}); is the cluster up and the address right?") from None
        yield target, api
    finally:
        await api.close()


def refused(err: ApiException, doing: str) -> JoinError:
    """An ApiException as one line: who refused what, and why."""
    if err.status == 401:
        return JoinError(f"{doing}: the credential was not accepted (401); it may have expired")
    if err.status == 403:
        return JoinError(f"{doing}: forbidden (403); run this as an admin of the member cluster, or ask one")
    return JoinError(f"{doing}: the apiserver answered {err.status} {err.reason}")


@dataclass(frozen=True)
class Kind:
    """The typed calls for one kind: ``create_<namespaced_>X``, ``read_…``, ``replace_…``, ``delete_…``, ``list_…``."""

    api: str   # CoreV1Api or RbacAuthorizationV1Api
    name: str  # service_account, role, ...
    namespaced: bool

    def call(self, api_client: client.ApiClient, verb: str, namespace: str, *args, **kwargs):
        typed = getattr(client, self.api)(api_client)
        if self.namespaced:
            method = getattr(typed, f"{verb}_namespaced_{self.name}")
            if verb in ("create", "list"):
                return method(namespace, *args, **kwargs)
            return method(args[0], namespace, *args[1:], **kwargs)
        return getattr(typed, f"{verb}_{self.name}")(*args, **kwargs)


KINDS = {
    "Namespace": Kind("CoreV1Api", "namespace", False),
    "ServiceAccount": Kind("CoreV1Api", "service_account", True),
    "Role": Kind("RbacAuthorizationV1Api", "role", True),
    "RoleBinding": Kind("RbacAuthorizationV1Api", "role_binding", True),
    "ClusterRole": Kind("RbacAuthorizationV1Api", "cluster_role", False),
    "ClusterRoleBinding": Kind("RbacAuthorizationV1Api", "cluster_role_binding", False),
    "ResourceQuota": Kind("CoreV1Api", "resource_quota", True),
    "Secret": Kind("CoreV1Api", "secret", True),
}
#: The order leave deletes in: what grants rights first, the namespace last.
REMOVAL_ORDER = ("ClusterRoleBinding", "ClusterRole", "RoleBinding", "Role", "Secret", "ResourceQuota",
                 "ServiceAccount", "Namespace")
