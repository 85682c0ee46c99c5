"""Pure builders for what ``fedspawner join`` creates in a member cluster and hands the hub.

In the member cluster, all labelled as made by join (``leave`` finds them by label):
the namespace (only when join creates it), the hub's ServiceAccount, a Role and
RoleBinding in that namespace (rules from ``federation.rbac``), optionally a read-only
ClusterRole + ClusterRoleBinding for nodes and pods, an optional ResourceQuota and,
with ``--token-secret``, a long-lived token Secret.

For the hub: a kubeconfig with one context (the member's name), the Secret carrying it,
the ``c.Federation.clusters`` entry and the same entry as zero-to-jupyterhub values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import yaml

from ..errors import UserError
from ..federation.model import ACCESS_TUNNEL
from ..federation.quantity import QuantityError, parse_quantity
from ..federation.rbac import hub_role_rules, inventory_rules

MANAGED_BY = "app.kubernetes.io/managed-by"
JOIN_MANAGER = "fedspawner-join"
JOINED_NAMESPACE = "fedspawner.dev/joined-namespace"
HUB_ACCOUNT = "fedspawner-hub"
TOKEN_SECRET = "fedspawner-hub-token"
QUOTA_NAME = "fedspawner-quota"
#: The Secret the helm values mount at /etc/fedspawner (one key per member cluster).
HUB_SECRET = "fedspawner-kubeconfigs"
HUB_MOUNT = "/etc/fedspawner"
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
#: ``--quota`` short names and the ResourceQuota keys they stand for.
QUOTA_KEYS = {
    "gpus": "requests.nvidia.com/gpu",
    "nvidia-gpus": "requests.nvidia.com/gpu",
    "amd-gpus": "requests.amd.com/gpu",
    "cpu": "requests.cpu",
    "memory": "requests.memory",
    "pods": "pods",
}
DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


class JoinInputError(UserError, ValueError):
    """A join/leave/check argument that cannot be used; the message says how to fix it."""


@dataclass(frozen=True)
class JoinRequest:
    """What the member's admin asked for."""

    cluster: str                     # the member's name in the federation
    namespace: str
    quota: dict[str, str] = field(default_factory=dict)  # ResourceQuota ``hard``
    inventory_reader: bool = False
    token_seconds: int | None = 720 * 3600  # None: a long-lived token Secret
    access: str = ACCESS_TUNNEL
    hub_namespace: str = "jupyterhub"

    @property
    def cluster_role(self) -> str:
        return f"fedspawner-inventory-{self.namespace}"

    @property
    def kubeconfig_key(self) -> str:
        return f"{self.cluster}.kubeconfig"

    @property
    def hub_kubeconfig_path(self) -> str:
        return f"{HUB_MOUNT}/{self.kubeconfig_key}"


def check_name(value: str, what: str) -> str:
    """A valid DNS label (namespace, cluster name), or JoinInputError saying why not."""
    if not DNS_LABEL.match(value or ""):
        raise JoinInputError(f"{what} {value!r} is not valid: use lower-case letters, digits and '-', "
                             "starting and ending with a letter or digit (at most 63)")
    return value


def parse_quota(text: str | None) -> dict[str, str]:
    """``gpus=4,cpu=32,memory=128Gi`` -> ResourceQuota ``hard`` (GPU names for NVIDIA / AMD)."""
    if not text:
        return {}
    hard: dict[str, str] = {}
    for item in text.split(","):
        key, sep, value = item.strip().partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise JoinInputError(f"--quota: {item.strip()!r} is not KEY=VALUE; example: --quota gpus=4,cpu=32,"
                                 "memory=128Gi")
        resource = QUOTA_KEYS.get(key, key if ("/" in key or key.startswith(("requests.", "limits."))) else None)
        if resource is None:
            raise JoinInputError(f"--quota: unknown key {key!r}; use {', '.join(QUOTA_KEYS)} or a full "
                                 "resource name such as requests.nvidia.com/gpu")
        try:
            parse_quantity(value)
        except QuantityError as err:
            raise JoinInputError(f"--quota {key}: {err}") from None
        hard[resource] = value
    return hard


def parse_duration(text: str) -> int:
    """``720h``, ``90m``, ``1h30m`` -> seconds (TokenRequest needs at least 10 minutes)."""
    match = DURATION.match(text.strip()) if text else None
    if not match or not any(match.groups()):
        raise JoinInputError(f"--token-duration {text!r} is not a duration; examples: 720h, 90m, 1h30m")
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    total = hours * 3600 + minutes * 60 + seconds
    if total < 600:
        raise JoinInputError(f"--token-duration {text!r} is too short; Kubernetes needs at least 10m")
    return total


def labels(req: JoinRequest) -> dict[str, str]:
    return {MANAGED_BY: JOIN_MANAGER, JOINED_NAMESPACE: req.namespace}


def selector(namespace: str) -> str:
    """The label selector that finds what join made for ``namespace``."""
    return f"{MANAGED_BY}={JOIN_MANAGER},{JOINED_NAMESPACE}={namespace}"


def _meta(req: JoinRequest, name: str, namespaced: bool = True, **extra) -> dict:
    meta = {"name": name, "labels": labels(req), **extra}
    if namespaced:
        meta["namespace"] = req.namespace
    return meta


def namespace(req: JoinRequest) -> dict:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": _meta(req, req.namespace, namespaced=False)}


def member_objects(req: JoinRequest) -> list[dict]:
    """Every object join creates in the member cluster (the namespace aside), in creation order."""
    subject = [{"kind": "ServiceAccount", "name": HUB_ACCOUNT, "namespace": req.namespace}]
    objects = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(req, HUB_ACCOUNT)},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": _meta(req, HUB_ACCOUNT),
         "rules": hub_role_rules()},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": _meta(req, HUB_ACCOUNT),
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": HUB_ACCOUNT},
         "subjects": subject},
    ]
    if req.inventory_reader:
        objects += [
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
             "metadata": _meta(req, req.cluster_role, namespaced=False), "rules": inventory_rules()},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
             "metadata": _meta(req, req.cluster_role, namespaced=False),
             "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": req.cluster_role},
             "subjects": subject},
        ]
    if req.quota:
        objects.append({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": _meta(req, QUOTA_NAME),
                        "spec": {"hard": dict(req.quota)}})
    if req.token_seconds is None:
        objects.append({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
                        "metadata": _meta(req, TOKEN_SECRET,
                                          annotations={"kubernetes.io/service-account.name": HUB_ACCOUNT})})
    return objects


def token_request(req: JoinRequest) -> dict:
    """The TokenRequest body for a bounded-lifetime token."""
    return {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
            "spec": {"expirationSeconds": req.token_seconds}}


def hub_kubeconfig(req: JoinRequest, server: str, token: str, ca_data: str | None = None,
                   insecure: bool = False) -> dict:
    """A kubeconfig with one context, named like the member, for the hub's credential."""
    cluster: dict = {"server": server}
    if ca_data:
        cluster["certificate-authority-data"] = ca_data
    if insecure:
        cluster["insecure-skip-tls-verify"] = True
    user = f"{req.cluster}-fedspawner-hub"
    return {"apiVersion": "v1", "kind": "Config", "preferences": {}, "current-context": req.cluster,
            "clusters": [{"name": req.cluster, "cluster": cluster}],
            "users": [{"name": user, "user": {"token": token}}],
            "contexts": [{"name": req.cluster, "context": {"cluster": req.cluster, "user": user,
                                                           "namespace": req.namespace}}]}


def hub_secret(req: JoinRequest, kubeconfig: dict) -> dict:
    """The Secret the hub mounts (``fedspawner-kubeconfigs``; one key per member cluster)."""
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": HUB_SECRET, "namespace": req.hub_namespace},
            "stringData": {req.kubeconfig_key: dump(kubeconfig)}}


def federation_entry(req: JoinRequest, kubeconfig_path: str | None = None) -> dict:
    """The member's ``c.Federation.clusters`` entry (keys of ``federation.config``)."""
    return {"name": req.cluster, "kubeconfig": kubeconfig_path or req.hub_kubeconfig_path,
            "context": req.cluster, "namespace": req.namespace, "access": req.access}


def values_snippet(entry: dict) -> dict:
    """The same entry as zero-to-jupyterhub values (merge into ``hub.config.Federation.clusters``)."""
    return {"hub": {"config": {"Federation": {"clusters": [entry]}}}}


class _Dumper(yaml.SafeDumper):
    """YAML with multi-line strings (the embedded kubeconfig) as readable ``|`` blocks."""


_Dumper.add_representer(str, lambda d, v: d.represent_scalar("tag:yaml.org,2002:str", v,
                                                             style="|" if "\n" in v else None))


def dump(obj: dict) -> str:
    """YAML text for the hub's admin (key order kept, multi-line strings as blocks)."""
    return yaml.dump(obj, Dumper=_Dumper, sort_keys=False)


def python_snippet(entry: dict) -> str:
    """The entry for a ``jupyterhub_config.py``."""
    return f"c.Federation.clusters.append({entry!r})\n"
