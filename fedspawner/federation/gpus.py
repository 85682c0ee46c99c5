"""GPU identity: canonical GPU types from node labels, and back to per-cluster scheduling.

Clusters describe the same GPU in different ways: NVIDIA GPU Feature Discovery writes
``nvidia.com/gpu.product=NVIDIA-A100-SXM4-80GB``, GKE ``cloud.google.com/gke-accelerator=
nvidia-a100-80gb``, Karpenter ``karpenter.k8s.aws/instance-gpu-name=a100`` plus a memory label.
:func:`node_gpu_offers` turns any of these into :class:`GpuOffer` objects carrying one canonical
:class:`GpuType` (``nvidia-a100-80gb``), and :func:`scheduling_for` goes the other way for clusters
whose nodes the hub cannot list: the node selector, tolerations and extended-resource name a
convention uses for a canonical type. :func:`node_affinity` combines offers into one
``nodeAffinity`` term list.

Selector semantics, used throughout: pairs with different keys must all match (AND); pairs that
repeat a key list alternative values for it (``In``). Keys in ``GpuOffer.excluded`` must be absent.

Canonical names: ``<vendor>-<model>`` with a ``-<N>gb`` suffix for models sold in several memory
sizes (``nvidia-a100-40gb``, ``nvidia-l4``, ``amd-mi300x``), then ``-mig-<profile>`` for a MIG
slice and ``-shared`` for a time-sliced or otherwise shared device:
``nvidia-a100-80gb-mig-1g.10gb``, ``nvidia-l4-shared``. Products the catalog does not know get
a slug of their product string (``NVIDIA-GeForce-RTX-4090`` -> ``nvidia-rtx-4090``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from . import gpu_catalog as catalog
from .gpu_catalog import (
    AKS_ACCELERATOR, AMD_PRODUCT, AWS_PREFIXES, GFD_MEMORY, GFD_PRODUCT, GKE_ACCELERATOR, GKE_PARTITION,
    GKE_SHARING, INSTANCE_TYPE, MIG_SUFFIX_RE, VENDOR_RESOURCES, GpuModel,
)

__all__ = [
    "CONVENTIONS", "GpuOffer", "GpuType", "GpuTypeError", "LabelMapping", "known_gpu_types",
    "node_affinity", "node_gpu_offers", "node_selector_terms", "parse_gpu_type", "scheduling_for",
]

# Every convention an offer can come from. "resource" is node-side only: a node that advertises a
# GPU resource without any label naming the model (device plugin without GFD).
CONVENTIONS = ("gfd", "gfd-mig-single", "gfd-mig-mixed", "gke", "karpenter", "eks", "aks", "amd",
               "custom", "resource")

_MIXED_LABEL_RE = re.compile(r"^nvidia\.com/mig-(?P<profile>.+?)\.(?:product|count|memory|replicas)$")
_MIXED_RESOURCE_RE = re.compile(r"^nvidia\.com/mig-(?P<profile>.+?)(?:\.shared)?$")
_NAME_RE = re.compile(r"^[a-z0-9]+-[a-z0-9][a-z0-9.+-]*$")
_GPU_TAINT_KEYS = frozenset({"nvidia.com/gpu", "amd.com/gpu"})

Selector = tuple[tuple[str, str], ...]


class GpuTypeError(ValueError):
    """A GPU type name, label or convention that cannot be resolved; the message says what to do."""


@dataclass(frozen=True)
class GpuType:
    """A canonical GPU type. Identity is vendor, model, memory, MIG profile and sharing only.

    For catalog models ``memory_mib`` is snapped to the model's nominal memory, so that the
    ``39538`` MiB a driver reports and the ``40960`` a cloud label says compare equal.
    ``form_factor`` and ``product`` are detail from the node and take no part in equality.
    """

    vendor: str
    model: str
    memory_mib: int | None = None
    mig_profile: str | None = None
    shared: bool = False
    form_factor: str | None = field(default=None, compare=False)
    product: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalise in place once, at construction
        set_(self, "vendor", self.vendor.lower())
        set_(self, "model", self.model.lower())
        if self.mig_profile is not None:
            set_(self, "mig_profile", self.mig_profile.lower())
        family = catalog.FAMILIES.get((self.vendor, self.model))
        if family and (self.memory_mib is not None or len(family) == 1):
            set_(self, "memory_mib", catalog.pick(family, self.memory_mib).memory_mib)

    @property
    def catalog_entry(self) -> GpuModel | None:
        """The catalog model of this type, or None for a product the catalog does not know."""
        return catalog.BY_IDENTITY.get((self.vendor, self.model, self.memory_mib or 0))

    @property
    def base(self) -> GpuType:
        """The full, unshared device this type is (a slice or share) of."""
        return replace(self, mig_profile=None, shared=False)

    @property
    def name(self) -> str:
        """Canonical id, e.g. ``nvidia-a100-80gb``, ``nvidia-a100-80gb-mig-1g.10gb``, ``nvidia-l4-shared``."""
        entry = self.catalog_entry
        name = entry.name if entry else f"{self.vendor}-{self.model}"
        if self.mig_profile:
            name += f"-mig-{self.mig_profile}"
        return name + ("-shared" if self.shared else "")

    @property
    def display(self) -> str:
        """Human-readable name, e.g. ``NVIDIA A100 80GB · MIG 1g.10gb``."""
        entry = self.catalog_entry
        if entry:
            text = entry.display
        else:
            vendor = catalog.VENDOR_DISPLAY.get(self.vendor, self.vendor.capitalize())
            text = f"{vendor} {self.model.replace('-', ' ').upper()}"
        if self.mig_profile:
            text += f" · MIG {self.mig_profile}"
        return text + (" · shared" if self.shared else "")

    def __str__(self) -> str:
        return self.name

    @classmethod
    def from_model(cls, model: GpuModel, **detail: Any) -> GpuType:
        """The full-device type of a catalog model; ``detail`` sets the other fields."""
        return cls(model.vendor, model.model, model.memory_mib, **detail)


@dataclass(frozen=True)
class GpuOffer:
    """What one node (or, from :func:`scheduling_for`, one convention) offers of one GPU type.

    ``selector`` picks the nodes with this GPU (see the module docstring for its semantics),
    ``excluded`` lists label keys that must be absent (a GKE full GPU excludes MIG-partitioned
    nodes), ``tolerations`` are Kubernetes toleration dicts for the node's GPU taints, and
    ``count`` is the node's allocatable amount of ``resource``.
    """

    gpu: GpuType
    resource: str
    count: int = 0
    selector: Selector = ()
    tolerations: tuple[dict[str, str], ...] = field(default=(), hash=False)
    convention: str = "custom"
    excluded: tuple[str, ...] = ()


@dataclass(frozen=True)
class LabelMapping:
    """An admin's own node label that identifies a GPU type: nodes with ``key=value`` offer ``gpu``.

    ``gpu`` is a canonical name or alias; names outside the catalog are accepted in canonical form
    (``nvidia-rtx-4090``). Mappings take precedence over every built-in convention.
    """

    key: str
    value: str
    gpu: str
    resource: str = "nvidia.com/gpu"
    _gpu_type: GpuType | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.key or not self.resource:
            raise GpuTypeError(f"GPU label mapping {self.key}={self.value}: key and resource must be set.")
        try:
            object.__setattr__(self, "_gpu_type", parse_gpu_type(self.gpu, strict=False))
        except GpuTypeError as error:
            raise GpuTypeError(f"GPU label mapping {self.key}={self.value}: {error}") from None

    @property
    def gpu_type(self) -> GpuType:
        """The mapping's GPU type, parsed."""
        assert self._gpu_type is not None  # set in __post_init__
        return self._gpu_type


# --- names -------------------------------------------------------------------------------------

def known_gpu_types() -> list[GpuType]:
    """The full-device type of every catalog model, in catalog order."""
    return [GpuType.from_model(model) for model in catalog.MODELS]


def parse_gpu_type(name: str, *, known: Iterable[GpuType] = (), strict: bool = True) -> GpuType:
    """Resolve a canonical GPU name or a common alias, case-insensitively.

    Accepts canonical names (``nvidia-a100-80gb-mig-1g.10gb``), short forms (``A100-80GB``, ``l4``,
    ``h100``), display names (``NVIDIA A100 80GB``) and any convention's label value
    (``NVIDIA-A100-SXM4-80GB``, ``nvidia-tesla-t4``), each optionally followed by ``-mig-<profile>``
    and/or ``-shared``. ``known`` adds types discovered on nodes, matched by canonical name. With
    ``strict=False`` a well-formed ``<vendor>-<model>`` name outside the catalog is accepted.

    Raises :class:`GpuTypeError` for an ambiguous name (listing the choices) or an unknown one
    (suggesting close known names).
    """
    known = tuple(known)
    text = catalog.normalise_name(name)
    if not text:
        raise GpuTypeError("No GPU type given. Name one, for example nvidia-a100-80gb.")
    for gpu in known:
        if gpu.name == text:
            return gpu
    base, shared = (text[:-7], True) if text.endswith("-shared") else (text, False)
    mig = None
    found = MIG_SUFFIX_RE.match(base)
    if found:
        base, mig = found.group("base"), found.group("profile")
    models = catalog.resolve_name(base)
    if len(models) > 1:
        choices = " or ".join(_with_suffix(m.name, mig, shared) for m in models)
        raise GpuTypeError(f"GPU type {name!r} is ambiguous: it could be {choices}. Name the one you mean.")
    if models and mig and not models[0].mig:
        raise GpuTypeError(f"GPU type {name!r}: the {models[0].display} cannot be split into MIG slices. "
                           f"Ask for {_with_suffix(models[0].name, None, shared)} instead.")
    if models:
        return GpuType.from_model(models[0], mig_profile=mig, shared=shared)
    if not strict and _NAME_RE.match(base):
        vendor, model = base.split("-", 1)
        return GpuType(vendor, model, mig_profile=mig, shared=shared)
    raise GpuTypeError(_unknown_message(name, base, mig, shared, known))


def _with_suffix(name: str, mig: str | None, shared: bool) -> str:
    return name + (f"-mig-{mig}" if mig else "") + ("-shared" if shared else "")


def _unknown_message(name: str, base: str, mig: str | None, shared: bool, known: Iterable[GpuType]) -> str:
    names = [m.name for m in catalog.MODELS] + [g.base.name for g in known]
    close = catalog.close_names(base, names)
    if close:
        hint = "Did you mean " + " or ".join(_with_suffix(n, mig, shared) for n in close) + "?"
    else:
        hint = "Known types: " + ", ".join(dict.fromkeys(names)) + "."
    return f"Unknown GPU type {name!r}. {hint}"


def _coerce(gpu: GpuType | str, strict: bool = True) -> GpuType:
    return gpu if isinstance(gpu, GpuType) else parse_gpu_type(gpu, strict=strict)


# --- node -> offers ----------------------------------------------------------------------------

def _count(allocatable: Mapping[str, Any], resource: str) -> int:
    """Allocatable amount of an extended resource; 0 when absent or unreadable."""
    try:
        return max(0, int(float(str(allocatable.get(resource, 0)))))
    except ValueError:
        return 0


def _int(value: Any) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def _tolerations(taints: Sequence[Any]) -> tuple[dict[str, str], ...]:
    """Tolerations for the node's GPU taints (``nvidia.com/gpu``, ``amd.com/gpu``, AKS ``sku=gpu``)."""
    result: list[dict[str, str]] = []
    for taint in taints:
        get = taint.get if isinstance(taint, Mapping) else lambda k, t=taint: getattr(t, k, None)
        key, value, effect = get("key"), get("value"), get("effect")
        if key in _GPU_TAINT_KEYS:
            toleration = {"key": key, "operator": "Exists"}
        elif key == "sku" and value == "gpu":
            toleration = {"key": "sku", "operator": "Equal", "value": "gpu"}
        else:
            continue
        if effect:
            toleration["effect"] = effect
        if toleration not in result:
            result.append(toleration)
    return tuple(result)


def _gpu_from(field_: str, text: str, vendor: str | None = None, memory: int | None = None,
              **detail: Any) -> GpuType:
    """The canonical type a convention's label value names; unknown products get a slug."""
    models = catalog.candidates(field_, text, vendor, memory)
    words = catalog.product_words(text)
    detail.setdefault("form_factor", words.form_factor)
    detail.setdefault("product", text)
    if models:
        return GpuType.from_model(models[0], **detail)
    return GpuType(vendor or words.vendor or "nvidia", catalog.slug(text), **detail)


def _gfd_offer(value: str, prefix: str, labels: Mapping[str, str], allocatable: Mapping[str, Any],
               selector: Selector, mig: str | None = None) -> GpuOffer | None:
    """One GFD offer from a product label value; ``prefix`` is the resource its labels hang off.

    ``mig`` is given when ``value`` is the parent GPU's product (a mixed-strategy resource whose
    own product label is missing).
    """
    product = value
    shared = (_int(labels.get(f"{prefix}.replicas")) or 1) > 1
    if product.upper().endswith("-SHARED"):
        product = product[:-7]
        shared = shared or mig is None  # a parent's -SHARED speaks for whole GPUs, not for slices
    if mig is None:
        found = MIG_SUFFIX_RE.match(product)
        if found:
            product, mig = found.group("base"), found.group("profile")
        elif product.upper().endswith("-MIG-INVALID"):
            return None  # GFD's mark for a MIG layout the single strategy cannot express
    memory = None if mig else _int(labels.get(GFD_MEMORY))  # MIG memory is the slice's, not the GPU's
    gpu = _gpu_from("gfd", product, "nvidia", memory, mig_profile=mig, shared=shared, product=value)
    resource = f"{prefix}.shared" if shared and f"{prefix}.shared" in allocatable else prefix
    if prefix != "nvidia.com/gpu":
        convention = "gfd-mig-mixed"
    else:
        convention = "gfd-mig-single" if mig else "gfd"
    return GpuOffer(gpu, resource, _count(allocatable, resource), selector, convention=convention)


def _gfd(labels: Mapping[str, str], allocatable: Mapping[str, Any]) -> list[GpuOffer]:
    """NVIDIA GPU Feature Discovery: full GPUs, MIG single and mixed strategies, time-slicing."""
    offers = []
    product = labels.get(GFD_PRODUCT)
    profiles = {m.group("profile") for m in map(_MIXED_LABEL_RE.match, labels) if m}
    profiles |= {m.group("profile") for m in map(_MIXED_RESOURCE_RE.match, allocatable) if m}
    for profile in sorted(profiles):
        prefix = f"nvidia.com/mig-{profile}"
        value = labels.get(f"{prefix}.product")
        if value:
            offer = _gfd_offer(value, prefix, labels, allocatable, ((f"{prefix}.product", value),))
        elif product:
            offer = _gfd_offer(product, prefix, labels, allocatable, ((GFD_PRODUCT, product),), profile)
        else:
            continue
        if offer:
            offers.append(offer)
    # With MIG slices as separate resources, the full-GPU offer only exists for GPUs left whole.
    whole = _count(allocatable, "nvidia.com/gpu") + _count(allocatable, "nvidia.com/gpu.shared")
    if product and (not offers or whole):
        offer = _gfd_offer(product, "nvidia.com/gpu", labels, allocatable, ((GFD_PRODUCT, product),))
        if offer:
            offers.append(offer)
    return offers


def _gke(labels: Mapping[str, str], allocatable: Mapping[str, Any]) -> list[GpuOffer]:
    """GKE: accelerator label, MIG partition size, time-sharing / MPS strategy."""
    accelerator = labels.get(GKE_ACCELERATOR)
    if not accelerator:
        return []
    partition, sharing = labels.get(GKE_PARTITION), labels.get(GKE_SHARING)
    gpu = _gpu_from("gke", accelerator, "nvidia", mig_profile=partition, shared=bool(sharing))
    selector: Selector = ((GKE_ACCELERATOR, accelerator),)
    selector += ((GKE_PARTITION, partition),) if partition else ()
    selector += ((GKE_SHARING, sharing),) if sharing else ()
    excluded = tuple(k for k, v in ((GKE_PARTITION, partition), (GKE_SHARING, sharing)) if not v)
    resource = "nvidia.com/gpu"
    return [GpuOffer(gpu, resource, _count(allocatable, resource), selector, convention="gke",
                     excluded=excluded)]


def _aws(convention: str, labels: Mapping[str, str], allocatable: Mapping[str, Any]) -> list[GpuOffer]:
    """Karpenter on AWS and EKS Auto Mode: ``<prefix>/instance-gpu-{name,manufacturer,memory}``."""
    prefix = AWS_PREFIXES[convention]
    name = labels.get(f"{prefix}/instance-gpu-name")
    if not name:
        return []
    vendor = labels.get(f"{prefix}/instance-gpu-manufacturer", "nvidia").lower()
    memory_key = f"{prefix}/instance-gpu-memory"
    gpu = _gpu_from("aws", name, vendor, _int(labels.get(memory_key)))
    selector: Selector = ((f"{prefix}/instance-gpu-name", name),)
    if len(catalog.INDEXES["aws"].get(name.lower(), ())) > 1 and memory_key in labels:
        selector += ((memory_key, labels[memory_key]),)  # a100 comes in two sizes: pin the memory
    resource = VENDOR_RESOURCES.get(gpu.vendor, "nvidia.com/gpu")
    return [GpuOffer(gpu, resource, _count(allocatable, resource), selector, convention=convention)]


def _aks(labels: Mapping[str, str], allocatable: Mapping[str, Any]) -> list[GpuOffer]:
    """AKS: the model follows from the VM size; ``kubernetes.azure.com/accelerator`` names the vendor."""
    size = labels.get(INSTANCE_TYPE) or labels.get("beta.kubernetes.io/instance-type")
    accelerator = labels.get(AKS_ACCELERATOR)
    models = catalog.INDEXES["aks"].get((size or "").lower(), ())
    if not size or not (models or accelerator):
        return []
    if models:
        gpu = GpuType.from_model(models[0], product=size)
    else:  # a GPU VM size missing from the catalog: keep it visible under its own name
        gpu = GpuType(accelerator.lower(), catalog.slug(size), product=size)
    resource = VENDOR_RESOURCES.get(gpu.vendor, "nvidia.com/gpu")
    selector = ((INSTANCE_TYPE, size),)
    return [GpuOffer(gpu, resource, _count(allocatable, resource), selector, convention="aks")]


def _amd(labels: Mapping[str, str], allocatable: Mapping[str, Any]) -> list[GpuOffer]:
    """AMD device plugin and node labeller (``amd.com/gpu.*`` and the older ``beta.amd.com/gpu.*``)."""
    product, product_key = catalog.amd_label(labels, "product-name")
    device_id, device_key = catalog.amd_label(labels, "device-id")
    vram = catalog.amd_label(labels, "vram")[0]
    if not (product or device_id):
        return []  # the resource alone is left to the unlabelled fallback
    memory = catalog.product_words(vram).memory_mib if vram else None
    if product:
        gpu = _gpu_from("amd", product, "amd", memory)
    elif device_id and device_id.lower() in catalog.INDEXES["amd_device_ids"]:
        gpu = GpuType.from_model(catalog.INDEXES["amd_device_ids"][device_id.lower()][0], product=device_id)
    else:
        gpu = GpuType("amd", f"gpu-{device_id.lower()}", product=device_id)
    if product_key:
        selector: Selector = ((product_key, product),)
    else:
        selector = ((device_key, device_id),) if device_key and device_id else ()
    return [GpuOffer(gpu, "amd.com/gpu", _count(allocatable, "amd.com/gpu"), selector, convention="amd")]


def _unlabelled(allocatable: Mapping[str, Any], labelled: Iterable[GpuOffer]) -> list[GpuOffer]:
    """GPU resources of a vendor no label describes: offered as ``<vendor>-gpu`` (model unknown)."""
    vendors = {offer.gpu.vendor for offer in labelled}
    return [GpuOffer(GpuType(vendor, "gpu"), resource, _count(allocatable, resource), convention="resource")
            for vendor, resource in VENDOR_RESOURCES.items()
            if resource in allocatable and vendor not in vendors]


def node_gpu_offers(labels: Mapping[str, str], allocatable: Mapping[str, Any],
                    taints: Sequence[Mapping[str, Any]] = (),
                    mappings: Sequence[LabelMapping] = ()) -> list[GpuOffer]:
    """Every GPU type a node offers, one offer per extended resource.

    ``labels`` and ``allocatable`` are the node's ``metadata.labels`` and ``status.allocatable``;
    ``taints`` its ``spec.taints`` (dicts or client objects). Admin ``mappings`` come first; for
    the resources they do not claim, NVIDIA GPUs are read from the first convention present in
    the order GFD, GKE, Karpenter, EKS Auto Mode, AKS, and AMD GPUs from the AMD labeller. A
    labelled GPU whose resource is absent or zero is still offered, with count 0. CPU-only
    nodes give ``[]``.
    """
    offers: dict[str, GpuOffer] = {}
    for mapping in mappings:
        if labels.get(mapping.key) == mapping.value and mapping.resource not in offers:
            offers[mapping.resource] = GpuOffer(mapping.gpu_type, mapping.resource,
                                                _count(allocatable, mapping.resource),
                                                ((mapping.key, mapping.value),), convention="custom")
    detectors = (_gfd, _gke, partial(_aws, "karpenter"), partial(_aws, "eks"), _aks)
    found: list[GpuOffer] = []
    for detect in detectors:
        found = detect(labels, allocatable)
        if found:
            break
    amd = _amd(labels, allocatable)  # the labeller knows AMD parts better than the cloud labels
    found = [o for o in found if not (amd and o.resource == "amd.com/gpu")] + amd
    for offer in found:
        offers.setdefault(offer.resource, offer)
    for offer in _unlabelled(allocatable, offers.values()):
        offers.setdefault(offer.resource, offer)
    tolerations = _tolerations(taints)
    return [replace(offer, tolerations=tolerations) for offer in offers.values()]


# --- canonical type -> scheduling ----------------------------------------------------------------

_VENDOR_TOLERATIONS = {v: ({"key": r, "operator": "Exists"},) for v, r in VENDOR_RESOURCES.items()}
_AKS_TOLERATION = {"key": "sku", "operator": "Equal", "value": "gpu"}
# Per convention: the catalog spelling it needs, and what to say when a model has none.
_NEEDS = {"gfd": ("gfd", "fedspawner knows no nvidia.com/gpu.product value for it"),
          "gke": ("gke", "GKE has no cloud.google.com/gke-accelerator value for it"),
          "karpenter": ("aws", "no AWS instance type has it"), "eks": ("aws", "no AWS instance type has it"),
          "aks": ("aks", "fedspawner knows no AKS VM size with it"),
          "amd": ("amd", "fedspawner knows no amd.com/gpu.product-name value for it")}


def _no_label(gpu: GpuType, convention: str, what: str) -> GpuTypeError:
    return GpuTypeError(
        f"Clusters using the {convention!r} convention have no label for {gpu.name}: {what}. "
        "Declare a LabelMapping for that cluster, or choose another GPU type.")


def scheduling_for(gpu: GpuType | str, convention: str, mappings: Sequence[LabelMapping] = ()) -> GpuOffer:
    """How a cluster of ``convention`` schedules ``gpu``: selector, resource, tolerations (count 0).

    For clusters whose nodes the hub cannot list. Selectors list every known spelling of the type
    for the convention (repeated key = ``In``). Tolerations tolerate the usual GPU taints, which
    is harmless where the nodes are not tainted. ``convention="custom"`` uses ``mappings``.
    Raises :class:`GpuTypeError` when the convention has no label for the type.
    """
    if convention not in CONVENTIONS or convention == "resource":
        usable = ", ".join(c for c in CONVENTIONS if c != "resource")
        raise GpuTypeError(f"Unknown GPU label convention {convention!r}; use one of {usable}.")
    gpu = _coerce(gpu, strict=convention != "custom")
    if convention == "custom":
        return _custom_scheduling(gpu, mappings)
    model = gpu.catalog_entry
    spelling, missing = _NEEDS[convention.split("-mig")[0]]
    if not model or not getattr(model, spelling):
        raise _no_label(gpu, convention, missing)
    mig, suffix = gpu.mig_profile, ("-SHARED" if gpu.shared else "")
    tolerations = _VENDOR_TOLERATIONS.get(gpu.vendor, ())
    resource = VENDOR_RESOURCES.get(gpu.vendor, "nvidia.com/gpu")
    if convention.startswith("gfd"):
        if convention == "gfd" and mig:
            raise _no_label(gpu, convention, "MIG slices need 'gfd-mig-single' or 'gfd-mig-mixed'")
        if convention != "gfd" and not mig:
            raise _no_label(gpu, convention, "it is not a MIG slice; use 'gfd'")
        key = f"nvidia.com/mig-{mig}.product" if convention == "gfd-mig-mixed" else GFD_PRODUCT
        mig_part = f"-MIG-{mig}" if mig else ""
        selector = tuple((key, f"{p}{mig_part}{suffix}") for p in model.gfd)
        if convention == "gfd-mig-mixed":
            resource = f"nvidia.com/mig-{mig}"
    elif convention == "gke":
        selector = tuple((GKE_ACCELERATOR, v) for v in model.gke)
        selector += ((GKE_PARTITION, mig),) if mig else ()
        selector += ((GKE_SHARING, "time-sharing"),) if gpu.shared else ()
        excluded = tuple(k for k, on in ((GKE_PARTITION, mig), (GKE_SHARING, gpu.shared)) if not on)
        return GpuOffer(gpu, resource, 0, selector, tolerations, convention, excluded)
    else:
        if mig or gpu.shared:
            raise _no_label(gpu, convention, "its labels do not describe MIG slices or shared GPUs")
        if convention in AWS_PREFIXES:
            prefix = AWS_PREFIXES[convention]
            selector = tuple((f"{prefix}/instance-gpu-name", v) for v in model.aws)
            if any(len(catalog.INDEXES["aws"][v.lower()]) > 1 for v in model.aws):
                selector += ((f"{prefix}/instance-gpu-memory", str(model.memory_mib)),)
        elif convention == "aks":
            selector = tuple((INSTANCE_TYPE, size) for size in model.aks)
            tolerations += (_AKS_TOLERATION,)
        else:  # amd
            selector = tuple((AMD_PRODUCT, v) for v in model.amd)
    return GpuOffer(gpu, resource, 0, selector, tolerations, convention)


def _custom_scheduling(gpu: GpuType, mappings: Sequence[LabelMapping]) -> GpuOffer:
    matching = [m for m in mappings if m.gpu_type == gpu]
    if not matching:
        raise GpuTypeError(f"No LabelMapping of this cluster names {gpu.name}; add one, or choose another "
                           "GPU type.")
    first = matching[0]  # values of one key are alternatives; a second key would AND, so it is left out
    selector = tuple((m.key, m.value) for m in matching if (m.key, m.resource) == (first.key, first.resource))
    return GpuOffer(gpu, first.resource, 0, selector, _VENDOR_TOLERATIONS.get(gpu.vendor, ()), "custom")


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


def scheduling_in_cluster(gpu: GpuType | str, convention: str | None,
                          mappings: Sequence[LabelMapping] = ()) -> GpuOffer:
    """:func:`scheduling_for` with a cluster's single declared convention stretched to
    what it really means: an admin mapping for the type wins; GFD clusters label MIG
    slices the GFD MIG way (mixed unless declared single) and full GPUs the plain GFD
    way; AMD GPUs are labelled by the AMD labeller whatever labels NVIDIA nodes.
    """
    gpu = _coerce(gpu, strict=False)
    if any(m.gpu_type == gpu for m in mappings):
        return _custom_scheduling(gpu, mappings)
    convention = convention or "gfd"
    if gpu.vendor == "amd":
        convention = "amd"
    elif convention.startswith("gfd"):
        if not gpu.mig_profile:
            convention = "gfd"
        elif convention == "gfd":
            convention = "gfd-mig-mixed"
    return scheduling_for(gpu, convention, mappings)
