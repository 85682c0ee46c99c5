"""GPU identity and scheduling across clusters: the federation's GPU API (import from here).

Every cluster may label the same GPU its own way; the hub knows each GPU by one canonical
:class:`GpuType` (``nvidia-a100-80gb``, see :mod:`.gpu_types` for the names). Both directions:

- node labels -> offers, for clusters whose nodes the hub can watch: :func:`node_gpu_offers`
  (the readers of every convention live in :mod:`.gpu_labels`);
- canonical type -> how a cluster asks for it, for clusters whose nodes it cannot see:
  :func:`scheduling_for`, from what the admin declared about the cluster's labels;

and :func:`node_affinity` combines offers into one ``nodeAffinity`` term list.

Selector semantics, used throughout: pairs with different keys must all match (AND); pairs that
repeat a key list alternative values for it (``In``). Keys in ``GpuOffer.excluded`` must be absent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .gpu_catalog import (
    AMD_PRODUCT, AWS_PREFIXES, GFD_PRODUCT, GKE_ACCELERATOR, GKE_PARTITION, GKE_SHARING, INDEXES, INSTANCE_TYPE,
    VENDOR_RESOURCES, GpuModel,
)
from .gpu_labels import node_gpu_offers
from .gpu_types import GpuOffer, GpuType, GpuTypeError, LabelMapping, Selector, parse_gpu_type

__all__ = [
    "AVOID_GPU_WEIGHT", "CONVENTIONS", "DEFAULT_CONVENTION", "FAMILIES", "MIG_STRATEGIES", "GpuOffer", "GpuType",
    "GpuTypeError", "LabelMapping", "Selector", "avoid_gpu_nodes", "node_affinity", "node_gpu_offers",
    "node_selector_terms", "parse_gpu_type", "scheduling_for",
]

# How a cluster labels its GPU nodes, as its admin declares it: a family of conventions...
FAMILIES = ("gfd", "gke", "karpenter", "eks", "aks", "amd", "custom")
# ...and, for NVIDIA GPU Feature Discovery, how MIG slices are exposed (GFD's mig.strategy).
MIG_STRATEGIES = ("mixed", "single")
_GFD_MIG = {"gfd-mig-mixed": "mixed", "gfd-mig-single": "single"}
# Every ``gpu_convention`` a cluster may declare: a family, or GFD with its MIG strategy spelled
# out. The GFD MIG names are also what offers of MIG slices say they come from.
CONVENTIONS = FAMILIES + tuple(_GFD_MIG)
DEFAULT_CONVENTION = "gfd"  # NVIDIA's GPU operator, the most common labeller

_VENDOR_TOLERATIONS = {v: ({"key": r, "operator": "Exists"},) for v, r in VENDOR_RESOURCES.items()}
_AKS_TOLERATION = {"key": "sku", "operator": "Equal", "value": "gpu"}
# The vendors' own GPU operators: a cluster declaring either labels each vendor's GPUs that vendor's way.
_OPERATORS = {"nvidia": "gfd", "amd": "amd"}
# Per convention: the catalog spelling it needs, and what to say when a model has none.
_NEEDS = {"gfd": ("gfd", "fedspawner knows no nvidia.com/gpu.product value for it"),
          "gke": ("gke", "GKE has no cloud.google.com/gke-accelerator value for it"),
          "karpenter": ("aws", "no AWS instance type has it"), "eks": ("aws", "no AWS instance type has it"),
          "aks": ("aks", "fedspawner knows no AKS VM size with it"),
          "amd": ("amd", "fedspawner knows no amd.com/gpu.product-name value for it")}


# --- canonical type -> scheduling on a cluster ----------------------------------------------------

def scheduling_for(gpu: GpuType | str, convention: str | None, mappings: Sequence[LabelMapping] = (),
                   mig_strategy: str = "mixed") -> GpuOffer:
    """How a cluster asks for ``gpu``: node selector, resource and tolerations (``count`` is 0).

    For clusters whose nodes the hub cannot list. The admin declares how the cluster labels its
    GPU nodes: ``convention``, one of :data:`FAMILIES` (None: :data:`DEFAULT_CONVENTION`), and for
    GFD how MIG slices are exposed, ``mig_strategy`` (the conventions ``gfd-mig-mixed`` and
    ``gfd-mig-single`` say both at once, and win over it). For each GPU the first rule that
    applies picks the labels:

    1. a ``LabelMapping`` naming the type (the cluster's own first): its labels, in every family;
    2. ``gfd`` and ``amd`` mean the vendors' GPU operators label the nodes: an NVIDIA GPU by GPU
       Feature Discovery (``nvidia.com/gpu.product``; a MIG slice, with the mixed strategy, by
       ``nvidia.com/mig-<profile>.product`` and resource ``nvidia.com/mig-<profile>``, with the
       single strategy by its ``-MIG-<profile>`` product and ``nvidia.com/gpu``), an AMD GPU by the
       AMD node labeller (``amd.com/gpu.product-name``);
    3. ``gke``, ``karpenter``, ``eks``, ``aks``: the cloud's labels, except for an AMD GPU they do
       not name, which the AMD labeller (shipped with AMD's device plugin) describes;
    4. ``custom``: mappings only (AMD GPUs as in 3).

    Selectors list every known spelling of the type (repeated key = ``In``). Tolerations tolerate
    the usual GPU taints, which is harmless where nodes are not tainted. The result's
    ``convention`` is the labelling used, as a node offer would say it (``gfd-mig-mixed`` for a
    mixed-strategy slice). Raises :class:`GpuTypeError`, saying what to do, for an unknown
    convention or strategy, and for a type that nothing on such a cluster labels.
    """
    family, strategy = _declared(convention, mig_strategy)
    gpu = gpu if isinstance(gpu, GpuType) else parse_gpu_type(gpu, strict=False)
    if any(m.gpu_type == gpu for m in mappings):
        return _mapped(gpu, mappings)
    labelling = _labelling(gpu, family)
    if labelling == "custom":
        raise GpuTypeError(f"No LabelMapping of this cluster names {gpu.name}; add one, or choose another "
                           "GPU type.")
    model = gpu.catalog_entry
    if model is None:
        raise GpuTypeError(f"{gpu.name} is not in fedspawner's GPU catalog, so no built-in convention has a "
                           "label for it. Declare a LabelMapping for that cluster, or choose another GPU type.")
    if not _spellings(gpu, labelling):
        raise _no_label(gpu, labelling, _NEEDS[labelling][1])
    if labelling == "gfd":
        return _gfd(gpu, model, strategy)
    if labelling == "gke":
        return _gke(gpu, model)
    return _whole_device(gpu, model, labelling)


def _declared(convention: str | None, mig_strategy: str) -> tuple[str, str]:
    """A cluster's declaration as (family, MIG strategy), or a GpuTypeError naming the choices."""
    if mig_strategy not in MIG_STRATEGIES:
        raise GpuTypeError(f"Unknown MIG strategy {mig_strategy!r}; use one of {', '.join(MIG_STRATEGIES)}.")
    convention = convention or DEFAULT_CONVENTION
    if convention in _GFD_MIG:
        return "gfd", _GFD_MIG[convention]
    if convention not in FAMILIES:
        raise GpuTypeError(f"Unknown GPU label convention {convention!r}; use one of {', '.join(CONVENTIONS)}.")
    return convention, mig_strategy


def _labelling(gpu: GpuType, family: str) -> str:
    """The convention whose labels name ``gpu`` on a cluster of ``family`` (rules 2-4 of scheduling_for)."""
    if family in _OPERATORS.values():
        return _OPERATORS.get(gpu.vendor, family)
    if gpu.vendor == "amd" and not _spellings(gpu, family):
        return "amd"
    return family


def _spellings(gpu: GpuType, convention: str) -> tuple[str, ...]:
    """The catalog's label values for ``gpu``'s model under ``convention`` (none for custom)."""
    model = gpu.catalog_entry
    return getattr(model, _NEEDS[convention][0]) if model and convention in _NEEDS else ()


def _no_label(gpu: GpuType, convention: str, what: str) -> GpuTypeError:
    return GpuTypeError(
        f"Clusters using the {convention!r} convention have no label for {gpu.name}: {what}. "
        "Declare a LabelMapping for that cluster, or choose another GPU type.")


def _mapped(gpu: GpuType, mappings: Sequence[LabelMapping]) -> GpuOffer:
    matching = [m for m in mappings if m.gpu_type == gpu]
    first = matching[0]  # values of one key are alternatives; a second key would AND, so it is left out
    selector = tuple((m.key, m.value) for m in matching if (m.key, m.resource) == (first.key, first.resource))
    return GpuOffer(gpu, first.resource, 0, selector, _VENDOR_TOLERATIONS.get(gpu.vendor, ()), "custom")


def _gfd(gpu: GpuType, model: GpuModel, strategy: str) -> GpuOffer:
    """GPU Feature Discovery: the product label, or for a mixed-strategy MIG slice its own resource."""
    mig, suffix = gpu.mig_profile, ("-SHARED" if gpu.shared else "")
    key, resource, convention = GFD_PRODUCT, "nvidia.com/gpu", "gfd"
    if mig:
        suffix = f"-MIG-{mig}{suffix}"
        convention = f"gfd-mig-{strategy}"
        if strategy == "mixed":
            resource = f"nvidia.com/mig-{mig}"
            key = f"{resource}.product"
    selector = tuple((key, f"{product}{suffix}") for product in model.gfd)
    return GpuOffer(gpu, resource, 0, selector, _VENDOR_TOLERATIONS["nvidia"], convention)


def _gke(gpu: GpuType, model: GpuModel) -> GpuOffer:
    """GKE: the accelerator, plus partition size for a MIG slice and sharing for a shared GPU."""
    mig = gpu.mig_profile
    selector = tuple((GKE_ACCELERATOR, value) for value in model.gke)
    selector += ((GKE_PARTITION, mig),) if mig else ()
    selector += ((GKE_SHARING, "time-sharing"),) if gpu.shared else ()
    excluded = tuple(k for k, on in ((GKE_PARTITION, mig), (GKE_SHARING, gpu.shared)) if not on)
    return GpuOffer(gpu, "nvidia.com/gpu", 0, selector, _VENDOR_TOLERATIONS["nvidia"], "gke", excluded)


def _whole_device(gpu: GpuType, model: GpuModel, convention: str) -> GpuOffer:
    """Karpenter, EKS, AKS and the AMD labeller: labels that name whole devices only."""
    if gpu.mig_profile or gpu.shared:
        raise _no_label(gpu, convention, "its labels do not describe MIG slices or shared GPUs")
    tolerations = _VENDOR_TOLERATIONS.get(gpu.vendor, ())
    selector: Selector
    if convention in AWS_PREFIXES:
        prefix = AWS_PREFIXES[convention]
        selector = tuple((f"{prefix}/instance-gpu-name", value) for value in model.aws)
        if any(len(INDEXES["aws"][value.lower()]) > 1 for value in model.aws):
            selector += ((f"{prefix}/instance-gpu-memory", str(model.memory_mib)),)
    elif convention == "aks":
        selector = tuple((INSTANCE_TYPE, size) for size in model.aks)
        tolerations += (_AKS_TOLERATION,)
    else:  # amd
        selector = tuple((AMD_PRODUCT, value) for value in model.amd)
    return GpuOffer(gpu, VENDOR_RESOURCES.get(gpu.vendor, "nvidia.com/gpu"), 0, selector, tolerations, convention)


# --- offers -> node affinity ---------------------------------------------------------------------

def _term(offer: GpuOffer) -> tuple[dict[str, list[str]], tuple[str, ...]]:
    values: dict[str, list[str]] = {}
    for key, value in offer.selector:
        if value not in values.setdefault(key, []):
            values[key].append(value)
    return values, tuple(sorted(set(offer.excluded)))


def _mergeable(a: tuple[dict[str, list[str]], tuple[str, ...]],
               b: tuple[dict[str, list[str]], tuple[str, ...]]) -> str | None | bool:
    """The one key on which two terms differ (merge by uniting its values), True if equal, else None."""
    if a[1] != b[1] or a[0].keys() != b[0].keys():
        return None
    differing = [k for k in a[0] if set(a[0][k]) != set(b[0][k])]
    if not differing:
        return True
    return differing[0] if len(differing) == 1 else None


def node_selector_terms(offers: Sequence[GpuOffer]) -> list[dict[str, Any]]:
    """``nodeSelectorTerms`` matching a node that satisfies any offer's selector.

    Offers that differ only in the values of one key share a term with one ``In`` expression;
    offers with different keys become separate (ORed) terms. Returns ``[]`` when some offer has
    no selector at all, since then any node will do.
    """
    terms: list[tuple[dict[str, list[str]], tuple[str, ...]]] = []
    for offer in offers:
        new = _term(offer)
        if not new[0] and not new[1]:
            return []
        for index, term in enumerate(terms):
            key = _mergeable(term, new)
            if key is True:
                break
            if key:
                merged = dict(term[0])
                merged[key] = term[0][key] + [v for v in new[0][key] if v not in term[0][key]]
                terms[index] = (merged, term[1])
                break
        else:
            terms.append(new)
    return [{"matchExpressions": [{"key": k, "operator": "In", "values": list(v)} for k, v in values.items()]
             + [{"key": k, "operator": "DoesNotExist"} for k in excluded]}
            for values, excluded in terms]


def node_affinity(offers: Sequence[GpuOffer]) -> dict[str, Any]:
    """A pod ``affinity`` dict whose required node affinity matches any of ``offers``.

    Shape: ``{"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms":
    [...]}}}`` (see :func:`node_selector_terms`); ``{}`` when no constraint is needed.
    """
    terms = node_selector_terms(offers)
    if not terms:
        return {}
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}}


#: Weight of the preference that keeps CPU-only pods off GPU nodes (the most Kubernetes allows).
AVOID_GPU_WEIGHT = 100


def avoid_gpu_nodes(offers: Sequence[GpuOffer]) -> dict[str, Any] | None:
    """A preferred node-affinity term (``PreferredSchedulingTerm``) that steers a CPU-only pod
    away from the nodes of ``offers``: ``NotIn`` every label value their selectors use (a node
    without the label matches too). None when no offer has a selector (nothing to avoid by label).
    """
    values: dict[str, list[str]] = {}
    for offer in offers:
        for key, value in offer.selector:
            seen = values.setdefault(key, [])
            if value not in seen:
                seen.append(value)
    if not values:
        return None
    expressions = [{"key": key, "operator": "NotIn", "values": sorted(found)} for key, found in sorted(values.items())]
    return {"weight": AVOID_GPU_WEIGHT, "preference": {"matchExpressions": expressions}}
