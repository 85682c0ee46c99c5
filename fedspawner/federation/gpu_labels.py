"""Node labels -> GPU offers: how each labelling convention describes a node's GPUs.

Clusters describe the same GPU in different ways: NVIDIA GPU Feature Discovery writes
``nvidia.com/gpu.product=NVIDIA-A100-SXM4-80GB``, GKE ``cloud.google.com/gke-accelerator=
nvidia-a100-80gb``, Karpenter ``karpenter.k8s.aws/instance-gpu-name=a100`` plus a memory label.
:func:`node_gpu_offers` turns any of these into :class:`GpuOffer` objects carrying one canonical
:class:`GpuType` (``nvidia-a100-80gb``). Import it from :mod:`fedspawner.federation.gpus`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from functools import partial
from typing import Any

from . import gpu_catalog as catalog
from .gpu_catalog import (
    AKS_ACCELERATOR, AWS_PREFIXES, GFD_MEMORY, GFD_PRODUCT, GKE_ACCELERATOR, GKE_PARTITION, GKE_SHARING,
    INSTANCE_TYPE, MIG_SUFFIX_RE, VENDOR_RESOURCES,
)
from .gpu_types import GpuOffer, GpuType, LabelMapping, Selector
from .quantity import QuantityError, units

_MIXED_LABEL_RE = re.compile(r"^nvidia\.com/mig-(?P<profile>.+?)\.(?:product|count|memory|replicas)$")
_MIXED_RESOURCE_RE = re.compile(r"^nvidia\.com/mig-(?P<profile>.+?)(?:\.shared)?$")
_GPU_TAINT_KEYS = frozenset({"nvidia.com/gpu", "amd.com/gpu"})


def _count(allocatable: Mapping[str, Any], resource: str) -> int:
    """Allocatable amount of an extended resource; 0 when absent or unreadable."""
    try:
        return max(0, units(allocatable.get(resource, 0)))
    except QuantityError:
        return 0


def _int(value: Any) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def _tolerations(taints: Sequence[Mapping[str, Any]]) -> tuple[dict[str, str], ...]:
    """Tolerations for the node's GPU taints (``nvidia.com/gpu``, ``amd.com/gpu``, AKS ``sku=gpu``)."""
    result: list[dict[str, str]] = []
    for taint in taints:
        key, value, effect = taint.get("key"), taint.get("value"), taint.get("effect")
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
    """The canonical type a convention's label value names.

    Unknown products get a slug of their name as model and the memory their product string
    names (kept in the canonical name), else the memory the node's labels report (``memory``, MiB).
    """
    models = catalog.candidates(field_, text, vendor, memory)
    words = catalog.product_words(text)
    detail.setdefault("form_factor", words.form_factor)
    detail.setdefault("product", text)
    if models:
        return GpuType.from_model(models[0], **detail)
    if words.memory_mib:  # the product names its size: part of its name, as for catalog models
        return GpuType(vendor or words.vendor or "nvidia", catalog.slug(text), words.memory_mib,
                       memory_in_name=True, **detail)
    if detail.get("mig_profile"):  # the node's memory label speaks for the slice, not the GPU
        memory = None
    return GpuType(vendor or words.vendor or "nvidia", catalog.slug(text), catalog.nominal_mib(memory), **detail)


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
    ``taints`` its ``spec.taints`` (as watched: dicts). Admin ``mappings`` come first; for
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
