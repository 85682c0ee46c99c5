"""Member clusters from configuration.

Admins list member clusters in ``c.Federation.clusters`` (plain dicts, so the same list
works from ``jupyterhub_config.py`` and from z2jh's ``hub.config.Federation.clusters``).
``parse_member_clusters`` validates every entry and raises ``FederationConfigError``
naming the cluster and field at the first problem, so a malformed entry stops the hub
with one clear message.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from traitlets import Dict, Float, List, Unicode
from traitlets.config import LoggingConfigurable

from ..errors import UserError
from .budgets import BudgetError, GpuBudgets, parse_gpu_budgets
from .datasets import DatasetError, parse_datasets
from .kubeconfig import KubeconfigError, read_contexts
from .gpus import CONVENTIONS, GpuTypeError, LabelMapping, parse_gpu_type, scheduling_for
from .model import ACCESS_DIRECT, ACCESS_INGRESS, ACCESS_MODES
from .names import NAME_RE, RESERVED_NAMES
from .warm_slots import WarmSlotError, parse_warm_slots

PLACEMENT_POLICIES = ("pack", "spread")
DNS_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
DNS_SUBDOMAIN_RE = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
HOST_RE = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?"
                     r"(\.[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?)*$")
CLUSTER_FIELDS = {
    "name", "display_name", "site", "owner", "region", "kubeconfig", "context", "in_cluster",
    "inventory_context", "namespace", "cost_weight", "labels", "allowed_groups", "access", "ingress",
    "capacity", "gpu_convention", "label_mappings", "hub_url", "datasets",
}
INGRESS_FIELDS = {"host", "class_name", "tls_secret", "annotations", "scheme"}


class FederationConfigError(UserError, ValueError):
    """A member-cluster entry that cannot be used; the message names cluster and field."""


@dataclass(frozen=True)
class IngressSettings:
    host: str
    class_name: str | None = None
    tls_secret: str | None = None
    scheme: str = "https"
    annotations: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class MemberCluster:
    """One member cluster of the federation, validated."""

    name: str
    display_name: str
    namespace: str
    kubeconfig: str | None = None
    context: str | None = None
    in_cluster: bool = False
    inventory_context: str | None = None  # optional read-only credential able to watch nodes
    site: str = ""
    owner: str = ""
    region: str = ""
    cost_weight: float = 1.0
    labels: dict[str, str] = field(default_factory=dict)
    allowed_groups: frozenset[str] | None = None
    access: str = ACCESS_DIRECT
    ingress: IngressSettings | None = None
    capacity: dict[str, int] = field(default_factory=dict)  # admin-declared GPUs by canonical type
    gpu_convention: str | None = None  # how this cluster labels GPUs, for clusters the hub can't see
    label_mappings: tuple[LabelMapping, ...] = ()
    hub_url: str | None = None  # how servers on this cluster reach the hub (overrides the default)
    datasets: dict[str, bool] = field(default_factory=dict)  # dataset name -> protected (never leaves)


def _where(index: int, raw: dict) -> str:
    name = raw.get("name") if isinstance(raw, dict) else None
    return f"Federation.clusters[{index}]" + (f" ({name})" if isinstance(name, str) and name else "")


def _fail(where: str, field_name: str, problem: str) -> FederationConfigError:
    return FederationConfigError(f"{where}: field '{field_name}' {problem}")


def _text(raw: dict, key: str, where: str, default: str | None = None, required: bool = False) -> str | None:
    value = raw.get(key, default)
    if value is None:
        if required:
            raise _fail(where, key, "is required")
        return None
    if not isinstance(value, str) or (required and not value):
        raise _fail(where, key, f"must be a non-empty string, got {value!r}")
    return value


def _string_map(value: object, where: str, key: str) -> dict[str, str]:
    """A mapping of strings to scalars (numbers and booleans read as their text)."""
    value = value or {}
    if not isinstance(value, dict) or not all(
            isinstance(k, str) and k and isinstance(v, (str, int, float, bool)) for k, v in value.items()):
        raise _fail(where, key, f"must be a mapping of names to strings, got {value!r}")
    return {k: str(v) for k, v in value.items()}


def _label_map(raw: dict, where: str) -> dict[str, str]:
    return _string_map(raw.get("labels"), where, "labels")


def check_url(url: str, what: str) -> None:
    """Refuse anything but an absolute http(s) URL (FederationConfigError naming ``what``)."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise FederationConfigError(f"{what} must be an http(s) URL such as https://hub.example.org, got {url!r}")


def _credentials(raw: dict, where: str, in_cluster: bool) -> tuple[str | None, str | None, str | None]:
    """kubeconfig, context and inventory_context, each checked against the kubeconfig file."""
    kubeconfig = _text(raw, "kubeconfig", where)
    context = _text(raw, "context", where)
    inventory_context = _text(raw, "inventory_context", where)
    if not in_cluster and not kubeconfig:
        raise _fail(where, "kubeconfig", "is required (a kubeconfig file and context), unless in_cluster: true")
    if not kubeconfig:
        for key, value in (("context", context), ("inventory_context", inventory_context)):
            if value:
                raise _fail(where, key, f"names {value!r}, but there is no kubeconfig to find it in; "
                            "set kubeconfig too")
        return None, None, None
    path = str(Path(kubeconfig).expanduser())
    if not Path(path).is_file():
        raise _fail(where, "kubeconfig", f"names {kubeconfig}, which does not exist")
    try:
        offered = read_contexts(path)
    except KubeconfigError as err:
        raise _fail(where, "kubeconfig", f"names {kubeconfig}, which {err}") from None
    known = ", ".join(sorted(offered.names)) or "none"
    for key, value in (("context", context), ("inventory_context", inventory_context)):
        if value and value not in offered.names:
            raise _fail(where, key, f"names {value!r}, which {kubeconfig} does not define (its contexts: {known})")
    if not context and not in_cluster and offered.current not in offered.names:
        raise _fail(where, "context", f"is required: {kubeconfig} has no current context (its contexts: {known})")
    return path, context, inventory_context


def _ingress(raw: dict, where: str, access: str) -> IngressSettings | None:
    """The ingress settings, required with access 'ingress' and refused otherwise."""
    ing = raw.get("ingress")
    if access != ACCESS_INGRESS:
        if ing is not None:
            raise _fail(where, "ingress", f"is only used with access: ingress (access is {access!r}); "
                        "remove it or set access: ingress")
        return None
    if not isinstance(ing, dict) or not ing.get("host"):
        raise _fail(where, "ingress", "must give at least a host when access is 'ingress'")
    bad = sorted(set(ing) - INGRESS_FIELDS)
    if bad:
        raise _fail(where, f"ingress.{bad[0]}", f"is not known; known: {', '.join(sorted(INGRESS_FIELDS))}")
    host = ing["host"]
    if not isinstance(host, str) or not HOST_RE.match(host):
        raise _fail(where, "ingress.host", f"must be a host name such as nb.example.org, got {host!r}")
    for key in ("class_name", "tls_secret"):
        value = ing.get(key)
        if value is not None and (not isinstance(value, str) or not DNS_SUBDOMAIN_RE.match(value)):
            raise _fail(where, f"ingress.{key}", f"must be a Kubernetes object name, got {value!r}")
    scheme = ing.get("scheme", "https")
    if scheme not in ("http", "https"):
        raise _fail(where, "ingress.scheme", f"must be http or https, got {scheme!r}")
    return IngressSettings(host=host, class_name=ing.get("class_name"), tls_secret=ing.get("tls_secret"),
                           scheme=scheme, annotations=_string_map(ing.get("annotations"), where,
                                                                  "ingress.annotations"))


def parse_member_cluster(index: int, raw: object) -> MemberCluster:
    """Validate one entry of ``Federation.clusters``."""
    where = _where(index, raw if isinstance(raw, dict) else {})
    if not isinstance(raw, dict):
        raise FederationConfigError(f"{where}: each cluster must be a mapping (name: ..., context: ...), got {raw!r}")
    unknown = sorted(set(raw) - CLUSTER_FIELDS)
    if unknown:
        raise _fail(where, unknown[0], f"is not known; known fields: {', '.join(sorted(CLUSTER_FIELDS))}")
    name = _text(raw, "name", where, required=True)
    if not NAME_RE.match(name):
        raise _fail(where, "name", f"{name!r} must be lower-case letters, digits and '-' (at most 40)")
    if name in RESERVED_NAMES:
        raise _fail(where, "name", f"{name!r} is reserved (it means 'let the hub choose'); pick another name")
    in_cluster = raw.get("in_cluster", False)
    if not isinstance(in_cluster, bool):
        raise _fail(where, "in_cluster", f"must be true or false, got {in_cluster!r}")
    kubeconfig, context, inventory_context = _credentials(raw, where, in_cluster)
    access = raw.get("access", ACCESS_DIRECT)
    if access not in ACCESS_MODES:
        raise _fail(where, "access", f"must be one of {', '.join(ACCESS_MODES)}, got {access!r}")
    ingress = _ingress(raw, where, access)
    cost = raw.get("cost_weight", 1.0)
    if isinstance(cost, bool) or not isinstance(cost, (int, float)) or not 0 < cost < math.inf:
        raise _fail(where, "cost_weight", f"must be a positive number, got {cost!r}")
    groups = raw.get("allowed_groups")
    if groups is not None and (not isinstance(groups, list) or not all(isinstance(g, str) and g for g in groups)):
        raise _fail(where, "allowed_groups", f"must be a list of group names, got {groups!r}")
    capacity = raw.get("capacity", {}) or {}
    if not isinstance(capacity, dict) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in capacity.values()):
        raise _fail(where, "capacity", f"must map GPU types to counts, e.g. {{nvidia-a100-40gb: 8}}, got {capacity!r}")
    convention = raw.get("gpu_convention")
    if convention is not None and convention not in CONVENTIONS:
        raise _fail(where, "gpu_convention", f"must be one of {', '.join(CONVENTIONS)}, got {convention!r}")
    mappings = parse_label_mappings(raw.get("label_mappings", []) or [], where, "label_mappings")
    capacity = _canonical_capacity(capacity, convention, mappings, where)
    namespace = _text(raw, "namespace", where, default="default")
    if not DNS_LABEL_RE.match(namespace):
        raise _fail(where, "namespace", f"{namespace!r} is not a Kubernetes namespace name (a DNS label: "
                    "at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit)")
    hub_url = _text(raw, "hub_url", where)
    if hub_url is not None:
        check_url(hub_url, f"{where}: field 'hub_url'")
    return MemberCluster(
        name=name,
        display_name=_text(raw, "display_name", where, default=name),
        namespace=namespace,
        kubeconfig=str(Path(kubeconfig).expanduser()) if kubeconfig else None,
        context=context,
        in_cluster=in_cluster,
        inventory_context=inventory_context,
        site=_text(raw, "site", where, default=""),
        owner=_text(raw, "owner", where, default=""),
        region=_text(raw, "region", where, default=""),
        cost_weight=float(cost),
        labels=_label_map(raw, where),
        allowed_groups=frozenset(groups) if groups is not None else None,
        access=access,
        ingress=ingress,
        capacity=capacity,
        gpu_convention=convention,
        label_mappings=mappings,
        hub_url=hub_url,
        datasets=_datasets(raw, where),
    )


def _datasets(raw: dict, where: str) -> dict[str, bool]:
    try:
        return parse_datasets(raw.get("datasets"), where)
    except DatasetError as err:
        raise FederationConfigError(str(err)) from None


def parse_label_mappings(raw: object, where: str, field_name: str) -> tuple[LabelMapping, ...]:
    """``[{key, value, gpu[, resource]}]`` -> LabelMapping objects, or a clear error."""
    if not isinstance(raw, list) or not all(isinstance(m, dict) for m in raw):
        raise _fail(where, field_name, "must be a list of {key, value, gpu[, resource]} mappings")
    parsed = []
    for i, mapping in enumerate(raw):
        try:
            parsed.append(LabelMapping(**mapping))
        except TypeError:
            raise _fail(where, f"{field_name}[{i}]", "must have key, value, gpu and optionally resource") from None
        except GpuTypeError as err:
            raise _fail(where, f"{field_name}[{i}]", str(err)) from None
    return tuple(parsed)


def _canonical_capacity(capacity: dict, convention: str | None, mappings: tuple[LabelMapping, ...],
                        where: str) -> dict[str, int]:
    """Declared GPUs keyed by canonical type, each one the cluster's convention can ask for."""
    out: dict[str, int] = {}
    for key, count in capacity.items():
        try:
            gpu = parse_gpu_type(str(key), strict=False)
            scheduling_for(gpu, convention, mappings)
        except GpuTypeError as err:
            raise _fail(where, "capacity", f"{key!r}: {err}") from None
        if gpu.name in out:
            raise _fail(where, "capacity", f"{key!r} names {gpu.name} a second time")
        out[gpu.name] = int(count)
    return out


def parse_member_clusters(raw: object) -> list[MemberCluster]:
    """Validate the whole ``Federation.clusters`` list."""
    if not isinstance(raw, list) or not raw:
        raise FederationConfigError("Federation.clusters must list at least one member cluster")
    clusters = [parse_member_cluster(i, entry) for i, entry in enumerate(raw)]
    seen: set[str] = set()
    for i, c in enumerate(clusters):
        if c.name in seen:
            raise FederationConfigError(f"Federation.clusters[{i}] ({c.name}): field 'name' is used by "
                                        "another cluster; names must be unique")
        seen.add(c.name)
    return clusters


class Federation(LoggingConfigurable):
    """The federation's configuration: member clusters and placement defaults."""

    clusters = List(Dict(), config=True, help="""
        Member clusters. Each entry is a mapping with:
        name (required; lower-case), display_name, site, owner, region;
        kubeconfig + context (the hub's credential, usually namespace-scoped) or in_cluster: true;
        inventory_context (optional read-only credential allowed to watch nodes and pods;
        without it GPU availability comes from quota and declared capacity);
        namespace (where servers and jobs run); access: direct | ingress | tunnel
        (how the hub reaches servers there) and ingress: {host, class_name, tls_secret};
        cost_weight (default 1; higher is dearer); labels (e.g. data locality);
        allowed_groups (JupyterHub groups that may use it; default everyone);
        capacity ({gpu-type: count}, admin-declared, used when nodes are not visible);
        gpu_convention (gfd, gke, karpenter, eks, aks, amd...: how it labels GPU nodes);
        label_mappings ([{key, value, gpu, resource}] for the cluster's own GPU labels);
        hub_url (how servers there reach the hub API);
        datasets ({name: {protected: true|false}}: data held there; a profile or job asking for a
        protected dataset runs only on clusters holding it, an unprotected one prefers them).
        """)
    label_mappings = List(Dict(), config=True, help="""
        Admin mappings from the federation's own node labels to canonical GPU types, for
        every cluster: [{key: "site.example.org/gpu", value: "a100", gpu: "nvidia-a100-40gb",
        resource: "nvidia.com/gpu"}].""")
    placement_policy = Unicode("pack", config=True, help="""
        How Auto placement ranks clusters: 'pack' fills the cluster where a request fits
        most tightly (keeps big nodes whole); 'spread' prefers the cluster with most room.""")
    public_hub_url = Unicode("", config=True, help="""
        The hub's URL as seen from member clusters (e.g. https://hub.example.org). Servers
        placed on other clusters use it to reach the hub API. Empty: JupyterHub's own.""")
    warm_slots = List(Dict(), config=True, help="""
        Warm GPU slots: placeholder pods the hub keeps in its namespace on a cluster, each
        holding GPUs of one type for its users' next servers, handed over on a spawn there
        and replenished. [{cluster: "onprem", gpu: "nvidia-a100-40gb", count: 2,
        gpus_each: 1, priority_class: ""}]; priority_class names an existing low
        PriorityClass of that cluster (the hub creates none).""")
    gpu_budgets = Dict(config=True, help="""
        Federation-wide GPU budgets: the most GPUs one user may hold at once across every member
        cluster, servers and jobs together, e.g. {"users": {"alice": 8}, "groups": {"students": 1},
        "default": 4}. A user's budget is their own entry, else the largest entry among their
        JupyterHub groups, else "default"; with no entry and no default a user has no limit.
        Enforced when a server starts and when a job is submitted; what a user holds is counted
        from the GPU pods of the hub's namespace on every cluster (the clusters are the source
        of truth). Empty (the default): no budgets.""")
    health_interval = Float(0.5, config=True, help="Seconds between apiserver health probes per cluster.")
    health_timeout = Float(1.5, config=True, help="""
        Seconds an apiserver probe may take. Two failed probes in a row mark the cluster down,
        so an unreachable cluster is noticed within about 2 × (interval + timeout) = 4 s.""")

    def member_clusters(self) -> list[MemberCluster]:
        """Every member cluster, validated (FederationConfigError names cluster and field)."""
        return parse_member_clusters(self.clusters)

    def parsed_label_mappings(self) -> tuple[LabelMapping, ...]:
        return parse_label_mappings(self.label_mappings, "Federation", "label_mappings")

    def validate(self) -> list[MemberCluster]:
        """Check the whole federation configuration now; returns the member clusters."""
        if self.placement_policy not in PLACEMENT_POLICIES:
            raise FederationConfigError(f"Federation: field 'placement_policy' must be one of "
                                        f"{', '.join(PLACEMENT_POLICIES)}, got {self.placement_policy!r}")
        if self.public_hub_url:
            check_url(self.public_hub_url, "Federation: field 'public_hub_url'")
        for key in ("health_interval", "health_timeout"):
            value = getattr(self, key)
            if not 0 < value < math.inf:
                raise FederationConfigError(f"Federation: field '{key}' must be a positive number of seconds, "
                                            f"got {value!r}")
        self.parsed_label_mappings()
        self.parsed_gpu_budgets()
        members = self.member_clusters()
        self.parsed_warm_slots(members)
        return members

    def parsed_gpu_budgets(self) -> GpuBudgets:
        """The validated ``gpu_budgets`` (FederationConfigError names the bad field)."""
        try:
            return parse_gpu_budgets(self.gpu_budgets)
        except BudgetError as err:
            raise FederationConfigError(str(err)) from None

    def parsed_warm_slots(self, members: list[MemberCluster]):
        """The warm slot declarations, checked against ``members``."""
        try:
            return parse_warm_slots(self.warm_slots, {m.name: m for m in members})
        except WarmSlotError as err:
            raise FederationConfigError(str(err)) from None
