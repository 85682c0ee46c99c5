"""The federation core's data: inventory snapshots, placement requests and decisions.

Snapshots are immutable and already aggregated (per cluster and GPU type), so that a
placement decision never walks individual nodes: the inventory folds node and pod
events into these aggregates, and placement reads them in microseconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# How a cluster's GPU numbers were obtained.
SOURCE_NODES = "nodes"  # exact: the hub can watch nodes and pods
SOURCE_QUOTA = "quota"  # upper bound: ResourceQuota headroom in the hub's namespace
SOURCE_DECLARED = "declared"  # upper bound: admin-declared capacity minus the hub's own usage

# What the hub can see of a cluster.
VISIBILITY_NODES = "nodes"  # nodes and pods cluster-wide
VISIBILITY_NAMESPACE = "namespace"  # only its own namespace
VISIBILITY_UNKNOWN = "unknown"  # not connected yet

# How the hub reaches a server on a member cluster (``access`` in the federation config):
# the pod's own address, the member's ingress, or a port-forward through its apiserver.
# Defined here once; the spawner's ``access`` package has one module per mode.
ACCESS_DIRECT, ACCESS_INGRESS, ACCESS_TUNNEL = "direct", "ingress", "tunnel"
ACCESS_MODES = (ACCESS_DIRECT, ACCESS_INGRESS, ACCESS_TUNNEL)

# Taints Kubernetes puts on nodes no pod can use now (the node controller, cordoning), and
# what each says of the node: not a GPU or admin taint to tolerate, but "not usable now".
NODE_LIFECYCLE_TAINTS = {
    "node.kubernetes.io/unreachable": "unreachable",
    "node.kubernetes.io/not-ready": "not ready",
    "node.kubernetes.io/unschedulable": "cordoned",
    "node.kubernetes.io/network-unavailable": "without network",
}

# Label on every pod the federation creates for a GPU request: the canonical GPU type.
# On clusters whose nodes the hub cannot see, it is how the hub counts its own use.
GPU_TYPE_LABEL = "fedspawner.dev/gpu-type"
# Who holds a pod's GPUs, for federation-wide budgets: a job's owner (set by the job renderers)
# and its name, or a notebook server's user and server name (set by KubeSpawner).
OWNER_NAME_ANNOTATION = "fedspawner.dev/owner-name"
JOB_NAME_LABEL = "fedspawner.dev/job-name"  # the job's object name: its name and its id's suffix
JOB_ID_LABEL = "fedspawner.dev/job-id"
SERVER_USER_ANNOTATION = "hub.jupyter.org/username"
SERVER_NAME_ANNOTATION = "hub.jupyter.org/servername"


@dataclass(frozen=True)
class GpuAvailability:
    """What one cluster has of one canonical GPU type, right now."""

    gpu_type: str  # canonical name, e.g. "nvidia-a100-40gb"
    display: str  # e.g. "NVIDIA A100 40GB"
    resource: str  # extended resource, e.g. "nvidia.com/gpu"
    total: int | None  # allocatable GPUs of this type (None: not visible)
    free: int | None  # exact free GPUs (None: not visible)
    free_upper_bound: int | None  # "up to N free" when only bounds are known
    largest_free_on_one_node: int | None  # the most one pod could get now
    max_per_node: int | None  # the most any single node has (free or not)
    free_histogram: tuple[tuple[int, int], ...] = ()  # (free GPUs on a node, how many nodes)
    source: str = SOURCE_NODES
    note: str = ""  # for people: "3 free", "up to 4 free, from quota"

    @property
    def best_known_free(self) -> int | None:
        """Exact free count if known, else the upper bound, else None."""
        return self.free if self.free is not None else self.free_upper_bound


@dataclass(frozen=True)
class ClusterSnapshot:
    """One member cluster as placement sees it."""

    name: str
    display_name: str
    site: str = ""
    owner: str = ""
    healthy: bool = True
    health_reason: str = ""  # why not healthy, for people
    visibility: str = VISIBILITY_NODES
    gpus: dict[str, GpuAvailability] = field(default_factory=dict)
    # (free CPU millicores, free memory bytes) of the nodes no other node beats on
    # both (the Pareto frontier), most CPU first. Empty when nodes are not visible.
    cpu_memory_free: tuple[tuple[int, int], ...] = ()
    cost_weight: float = 1.0
    labels: dict[str, str] = field(default_factory=dict)
    allowed_groups: frozenset[str] | None = None  # None: every user
    recently_full: dict[str, float] = field(default_factory=dict)  # gpu type -> when scheduling said "full"
    # Like ``cpu_memory_free``, over the nodes without GPUs only; None when nodes are not visible.
    cpu_only_free: tuple[tuple[int, int], ...] | None = None
    images: frozenset[str] = frozenset()  # image keys (``images.image_key``) the nodes report holding
    recent_images: frozenset[str] = frozenset()  # image keys the hub's own pods started from lately
    datasets: Mapping[str, bool] = field(default_factory=dict)  # dataset name -> protected (``datasets``)

    def open_to(self, groups: frozenset[str]) -> bool:
        """May a user in ``groups`` use this cluster (``allowed_groups`` unset: everyone)?"""
        return self.allowed_groups is None or bool(groups & self.allowed_groups)


@dataclass(frozen=True)
class InventorySnapshot:
    clusters: tuple[ClusterSnapshot, ...]
    taken_at: float = 0.0

    def cluster(self, name: str) -> ClusterSnapshot | None:
        for c in self.clusters:
            if c.name == name:
                return c
        return None


POLICY_PACK = "pack"  # fill the busiest cluster/node that fits (keeps big nodes whole)
POLICY_SPREAD = "spread"  # prefer the cluster with the most room


@dataclass(frozen=True)
class PlacementRequest:
    """What a notebook server or job needs, and who asks."""

    gpu_type: str | None = None  # canonical name; "any" for any type; None for CPU only
    gpu_count: int = 0  # GPUs per pod
    pods: int = 1  # a gang of identical pods (jobs); all in one cluster
    cpu_milli: int = 0  # per pod
    memory_bytes: int = 0  # per pod
    user: str = ""
    groups: frozenset[str] = frozenset()
    explicit_cluster: str | None = None  # the user's choice wins
    allowed_clusters: tuple[str, ...] | None = None  # None: all
    preferred_clusters: tuple[str, ...] = ()  # in order; ties broken by this
    locality: dict[str, str] = field(default_factory=dict)  # preferred cluster labels
    policy: str = POLICY_PACK
    # By default a pod's GPUs must fit on one node now. A profile may relax this to
    # "the cluster has that many free in total" (e.g. clusters that autoscale nodes).
    allow_multi_node: bool = False
    image: str | None = None  # the pods' image as ``images.image_key`` spells it: clusters holding it win
    dataset: str | None = None  # a dataset the workload reads (``federation.datasets``' rules)


@dataclass(frozen=True)
class Candidate:
    cluster: str
    gpu_type: str | None
    score: float  # higher is better
    reason: str  # for people: "onprem: 6 × NVIDIA A100 40GB free (pack)"


@dataclass(frozen=True)
class Rejection:
    cluster: str
    reason: str  # for people: "burst: no NVIDIA L4 in this cluster"


@dataclass(frozen=True)
class Decision:
    candidates: tuple[Candidate, ...]
    rejected: tuple[Rejection, ...]

    def explain(self) -> str:
        """One line per cluster, candidates first."""
        lines = [f"{i + 1}. {c.reason}" for i, c in enumerate(self.candidates)]
        lines += [f"✗ {r.reason}" for r in self.rejected]
        return "\n".join(lines)


@dataclass(frozen=True)
class GpuScheduling:
    """How to ask one cluster for one GPU type: the extended resource to request, the
    Kubernetes ``NodeAffinity`` that selects nodes with that GPU (or None: any node),
    and the tolerations their taints need. Used by the spawner and the job renderers."""

    resource: str
    node_affinity: Mapping[str, Any] | None = None
    tolerations: tuple[Mapping[str, Any], ...] = ()

    def __post_init__(self) -> None:
        if "/" not in self.resource:
            raise ValueError(f"GpuScheduling.resource must be an extended resource name such as "
                             f"'nvidia.com/gpu', not {self.resource!r}")
        if self.node_affinity is not None and not isinstance(self.node_affinity, Mapping):
            raise ValueError("GpuScheduling.node_affinity must be a Kubernetes NodeAffinity mapping or None")
        tolerations = tuple(self.tolerations)
        if not all(isinstance(t, Mapping) for t in tolerations):
            raise ValueError("GpuScheduling.tolerations must be Kubernetes Toleration mappings")
        object.__setattr__(self, "tolerations", tolerations)

    def node_selector_terms(self) -> list[dict]:
        """The required node-selector terms (ORed), empty when any node will do."""
        required = (self.node_affinity or {}).get("requiredDuringSchedulingIgnoredDuringExecution") or {}
        return [dict(t) for t in required.get("nodeSelectorTerms", [])]
