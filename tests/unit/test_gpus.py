"""GPU identity: node labels -> canonical types -> per-convention scheduling, and back."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from fedspawner.federation import config, gpu_catalog, gpus
from fedspawner.federation.gpus import (
    CONVENTIONS, FAMILIES, GpuOffer, GpuType, GpuTypeError, LabelMapping, node_affinity, node_gpu_offers,
    node_selector_terms, parse_gpu_type, scheduling_for,
)

GFD = "nvidia.com/gpu.product"
GKE = "cloud.google.com/gke-accelerator"
GKE_PARTITION = "cloud.google.com/gke-gpu-partition-size"
GKE_SHARING = "cloud.google.com/gke-gpu-sharing-strategy"
AMD_PRODUCT = "amd.com/gpu.product-name"
KARPENTER = "karpenter.k8s.aws/instance-gpu-"
EKS = "eks.amazonaws.com/instance-gpu-"
AKS_SIZE = "node.kubernetes.io/instance-type"
CPU_NODE = {"kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", AKS_SIZE: "m5.xlarge",
            "topology.kubernetes.io/zone": "us-east-1a"}
CPU_ALLOCATABLE = {"cpu": "3920m", "memory": "15Gi", "pods": "58", "ephemeral-storage": "95Gi"}


def only_offer(labels, allocatable=None, **kwargs) -> GpuOffer:
    offers = node_gpu_offers(labels, allocatable if allocatable is not None else {}, **kwargs)
    assert len(offers) == 1, offers
    return offers[0]


def matches(affinity: dict, labels: dict) -> bool:
    """What kube-scheduler does with required node affinity (In / DoesNotExist only)."""
    terms = affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    for term in terms:
        ok = True
        for expr in term["matchExpressions"]:
            if expr["operator"] == "In":
                ok &= labels.get(expr["key"]) in expr["values"]
            else:
                assert expr["operator"] == "DoesNotExist"
                ok &= expr["key"] not in labels
        if ok:
            return True
    return False


# --- names ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("model", gpu_catalog.MODELS, ids=lambda m: m.name)
def test_every_catalog_name_parses_to_itself(model):
    gpu = parse_gpu_type(model.name)
    assert gpu.name == model.name
    assert gpu.display == model.display
    assert parse_gpu_type(model.name.upper()) == gpu


@pytest.mark.parametrize("alias, expected", [
    ("nvidia-a100-80gb", "nvidia-a100-80gb"),
    ("A100-80GB", "nvidia-a100-80gb"),
    ("a100-40gb", "nvidia-a100-40gb"),
    ("NVIDIA A100 80GB", "nvidia-a100-80gb"),
    ("a100 80gb pcie", "nvidia-a100-80gb"),
    ("NVIDIA-A100-SXM4-80GB", "nvidia-a100-80gb"),
    ("nvidia-tesla-a100", "nvidia-a100-40gb"),
    ("h100", "nvidia-h100-80gb"),
    ("H100", "nvidia-h100-80gb"),
    ("NVIDIA-H100-80GB-HBM3", "nvidia-h100-80gb"),
    ("h100 nvl", "nvidia-h100-nvl"),
    ("h200", "nvidia-h200-141gb"),
    ("l4", "nvidia-l4"),
    ("L40S", "nvidia-l40s"),
    ("a10", "nvidia-a10"),
    ("a10g", "nvidia-a10g"),
    ("t4", "nvidia-t4"),
    ("Tesla-T4", "nvidia-t4"),
    ("nvidia-tesla-t4", "nvidia-t4"),
    ("t4g", "nvidia-t4"),
    ("v100-32gb", "nvidia-v100-32gb"),
    ("a6000", "nvidia-rtx-a6000"),
    ("b200", "nvidia-b200"),
    ("mi300x", "amd-mi300x"),
    ("AMD_Instinct_MI210", "amd-mi210"),
    ("AMD Instinct MI250X", "amd-mi250x"),
    ("Standard_NC24ads_A100_v4", "nvidia-a100-80gb"),
    ("nvidia-a100-80gb-mig-1g.10gb", "nvidia-a100-80gb-mig-1g.10gb"),
    ("A100-80GB-MIG-1G.10GB", "nvidia-a100-80gb-mig-1g.10gb"),
    ("nvidia-l4-shared", "nvidia-l4-shared"),
    ("h100-mig-1g.10gb-shared", "nvidia-h100-80gb-mig-1g.10gb-shared"),
])
def test_aliases(alias, expected):
    assert parse_gpu_type(alias).name == expected


def test_parsed_fields():
    gpu = parse_gpu_type("nvidia-a100-80gb-mig-1g.10gb")
    assert (gpu.vendor, gpu.model, gpu.memory_mib, gpu.mig_profile, gpu.shared) == ("nvidia", "a100", 81920,
                                                                                    "1g.10gb", False)
    assert gpu.base == parse_gpu_type("nvidia-a100-80gb")
    assert parse_gpu_type("nvidia-l4-shared").shared
    assert str(gpu) == gpu.name


def test_derived_names_are_computed_once_and_take_no_part_in_identity():
    gpu = parse_gpu_type("a100-80gb-mig-1g.10gb")
    assert gpu.name is gpu.name and gpu.display is gpu.display and gpu.catalog_entry is gpu.catalog_entry
    fresh = GpuType("nvidia", "a100", 81920, mig_profile="1g.10gb")  # nothing computed yet
    assert gpu == fresh and hash(gpu) == hash(fresh) and repr(gpu) == repr(fresh)
    assert replace(gpu, mig_profile=None, shared=True).name == "nvidia-a100-80gb-shared"
    model = gpu.catalog_entry
    assert (model.vendor, model.model) == ("nvidia", "a100") and model.model is model.model


def test_display():
    assert parse_gpu_type("nvidia-a100-80gb").display == "NVIDIA A100 80GB"
    assert parse_gpu_type("nvidia-a100-80gb-mig-1g.10gb").display == "NVIDIA A100 80GB · MIG 1g.10gb"
    assert parse_gpu_type("nvidia-l4-shared").display == "NVIDIA L4 · shared"
    assert GpuType("nvidia", "rtx-4090").display == "NVIDIA RTX 4090"


@pytest.mark.parametrize("name", ["a100", "A100", "nvidia-a100", "v100"])
def test_ambiguous_names_list_the_choices(name):
    with pytest.raises(GpuTypeError, match="ambiguous") as error:
        parse_gpu_type(name)
    family = name.lower().removeprefix("nvidia-")
    assert f"nvidia-{family}-" in str(error.value)
    assert str(error.value).count(f"nvidia-{family}-") == 2


@pytest.mark.parametrize("name, suggestion", [
    ("nvidia-a100-90gb", "nvidia-a100-80gb"),
    ("nvidia-h10-80gb", "nvidia-h100-80gb"),
    ("nvida-l4", "nvidia-l4"),
    ("mi300", "amd-mi300x"),
    ("a100-80gb-mig-1g.10gbx", "nvidia-a100-80gb"),
])
def test_unknown_names_suggest_close_ones(name, suggestion):
    with pytest.raises(GpuTypeError) as error:
        parse_gpu_type(name)
    message = str(error.value)
    assert f"Unknown GPU type {name!r}" in message
    assert suggestion in message


def test_unknown_without_close_match_lists_known_types():
    with pytest.raises(GpuTypeError, match="Known types: .*nvidia-l4"):
        parse_gpu_type("quantum-flux-capacitor")
    with pytest.raises(GpuTypeError, match="No GPU type given"):
        parse_gpu_type("  ")


def test_mig_only_on_mig_capable_models():
    with pytest.raises(GpuTypeError, match="cannot be split into MIG slices.*nvidia-l4-shared"):
        parse_gpu_type("nvidia-l4-mig-1g.5gb-shared")
    assert parse_gpu_type("a30-mig-1g.6gb").name == "nvidia-a30-mig-1g.6gb"


def test_non_strict_and_known_types():
    assert parse_gpu_type("nvidia-rtx-4090", strict=False) == GpuType("nvidia", "rtx-4090")
    with pytest.raises(GpuTypeError):
        parse_gpu_type("nvidia-rtx-4090")
    seen = GpuType("nvidia", "rtx-4090", product="NVIDIA-GeForce-RTX-4090")
    assert parse_gpu_type("NVIDIA-RTX-4090", known=[seen]) is seen


def test_identity_ignores_detail_and_snaps_memory():
    sxm = GpuType("nvidia", "a100", 81920, form_factor="SXM4", product="NVIDIA-A100-SXM4-80GB")
    pcie = GpuType("NVIDIA", "A100", 81559, form_factor="PCIe", product="NVIDIA-A100-80GB-PCIe")
    assert sxm == pcie and hash(sxm) == hash(pcie)
    assert GpuType("nvidia", "a100", 39538) == parse_gpu_type("nvidia-a100-40gb")
    assert GpuType("nvidia", "l4") == parse_gpu_type("l4")
    assert GpuType("nvidia", "a100", 81920) != GpuType("nvidia", "a100", 81920, mig_profile="1g.10gb")
    assert GpuType("nvidia", "l4") != GpuType("nvidia", "l4", shared=True)


def test_catalog_covers_the_required_models_once_each():
    names = {GpuType.from_model(model).name for model in gpu_catalog.MODELS}
    assert {"nvidia-a100-40gb", "nvidia-a100-80gb", "nvidia-h100-80gb", "nvidia-h200-141gb", "nvidia-l4",
            "nvidia-l40s", "nvidia-a10", "nvidia-a10g", "nvidia-t4", "nvidia-v100-16gb", "nvidia-v100-32gb",
            "nvidia-a30", "nvidia-a40", "nvidia-rtx-a6000", "nvidia-b200", "amd-mi210", "amd-mi250x",
            "amd-mi300x"} <= names
    assert len(names) == len(gpu_catalog.MODELS)


# --- node -> offers, per convention ---------------------------------------------------------------

def test_gfd_full_gpu():
    labels = {GFD: "A100-SXM4-40GB", "nvidia.com/gpu.memory": "39538", "nvidia.com/gpu.count": "8",
              "nvidia.com/gpu.family": "ampere", "nvidia.com/gpu.replicas": "1", **CPU_NODE}
    offer = only_offer(labels, {"nvidia.com/gpu": "8", **CPU_ALLOCATABLE})
    assert offer.gpu.name == "nvidia-a100-40gb"
    assert (offer.gpu.form_factor, offer.gpu.product) == ("SXM4", "A100-SXM4-40GB")
    assert (offer.resource, offer.count, offer.convention) == ("nvidia.com/gpu", 8, "gfd")
    assert offer.selector == ((GFD, "A100-SXM4-40GB"),)
    assert offer.tolerations == () and offer.excluded == ()


@pytest.mark.parametrize("product, memory, expected", [
    ("NVIDIA-A100-SXM4-80GB", "81920", "nvidia-a100-80gb"),
    ("NVIDIA-A100-80GB-PCIe", "81920", "nvidia-a100-80gb"),
    ("NVIDIA-A100-PCIE-40GB", "40960", "nvidia-a100-40gb"),
    ("NVIDIA-H100-80GB-HBM3", "81559", "nvidia-h100-80gb"),
    ("NVIDIA-H100-PCIe", "81559", "nvidia-h100-80gb"),
    ("NVIDIA-H100-NVL", "95830", "nvidia-h100-nvl"),
    ("NVIDIA-H200", "143771", "nvidia-h200-141gb"),
    ("NVIDIA-L4", "23034", "nvidia-l4"),
    ("NVIDIA-L40S", "46068", "nvidia-l40s"),
    ("NVIDIA-A10G", "23028", "nvidia-a10g"),
    ("NVIDIA-A10", "23028", "nvidia-a10"),
    ("Tesla-T4", "15360", "nvidia-t4"),
    ("Tesla-V100-SXM2-16GB", "16160", "nvidia-v100-16gb"),
    ("Tesla-V100-SXM2-32GB", "32768", "nvidia-v100-32gb"),
    ("NVIDIA-A30", "24576", "nvidia-a30"),
    ("NVIDIA-A40", "46068", "nvidia-a40"),
    ("NVIDIA-RTX-A6000", "49140", "nvidia-rtx-a6000"),
    ("NVIDIA-B200", "183359", "nvidia-b200"),
    ("NVIDIA-RTX-PRO-6000-Blackwell-Server-Edition", "97887", "nvidia-rtx-pro-6000"),
    # products the catalog does not know keep a slug of their own name
    ("NVIDIA-GeForce-RTX-4090", "24564", "nvidia-rtx-4090"),
    ("NVIDIA-A800-SXM4-80GB", "81920", "nvidia-a800-80gb"),
    ("NVIDIA-GH200-480GB", "97871", "nvidia-gh200-480gb"),
])
def test_gfd_products(product, memory, expected):
    offer = only_offer({GFD: product, "nvidia.com/gpu.memory": memory}, {"nvidia.com/gpu": "1"})
    assert offer.gpu.name == expected
    assert offer.gpu.product == product


def test_unknown_product_is_kept_not_dropped():
    offer = only_offer({GFD: "NVIDIA-GeForce-RTX-4090"}, {"nvidia.com/gpu": "2"})
    assert offer.gpu == GpuType("nvidia", "rtx-4090") and offer.count == 2
    assert offer.gpu.display == "NVIDIA RTX 4090"


def test_gfd_mig_single():
    labels = {"nvidia.com/mig.strategy": "single", GFD: "NVIDIA-A100-SXM4-40GB-MIG-1g.5gb",
              "nvidia.com/gpu.count": "56", "nvidia.com/gpu.memory": "4864", "nvidia.com/gpu.slices.gi": "1"}
    offer = only_offer(labels, {"nvidia.com/gpu": "56"})
    assert offer.gpu.name == "nvidia-a100-40gb-mig-1g.5gb"
    assert offer.gpu.base == parse_gpu_type("nvidia-a100-40gb")  # slice memory does not change the parent
    assert (offer.resource, offer.count, offer.convention) == ("nvidia.com/gpu", 56, "gfd-mig-single")
    assert offer.selector == ((GFD, "NVIDIA-A100-SXM4-40GB-MIG-1g.5gb"),)


def test_gfd_mig_single_invalid_layout_offers_no_slice():
    labels = {"nvidia.com/mig.strategy": "single", GFD: "NVIDIA-A100-SXM4-40GB-MIG-INVALID",
              "nvidia.com/gpu.count": "0"}
    offers = node_gpu_offers(labels, {"nvidia.com/gpu": "0"})
    assert [o.gpu.mig_profile for o in offers] == [None]
    assert offers[0].convention == "resource" and offers[0].count == 0


def mixed_labels(**extra):
    return {"nvidia.com/mig.strategy": "mixed", GFD: "NVIDIA-A100-SXM4-80GB", "nvidia.com/gpu.count": "2",
            "nvidia.com/gpu.memory": "81920",
            "nvidia.com/mig-1g.10gb.product": "NVIDIA-A100-SXM4-80GB-MIG-1g.10gb",
            "nvidia.com/mig-1g.10gb.count": "7", "nvidia.com/mig-1g.10gb.memory": "9728",
            "nvidia.com/mig-3g.40gb.product": "NVIDIA-A100-SXM4-80GB-MIG-3g.40gb",
            "nvidia.com/mig-3g.40gb.count": "2", "nvidia.com/mig-3g.40gb.memory": "40192", **extra}


def test_gfd_mig_mixed_one_offer_per_profile():
    offers = node_gpu_offers(mixed_labels(), {"nvidia.com/mig-1g.10gb": "7", "nvidia.com/mig-3g.40gb": "2"})
    assert [(o.gpu.name, o.resource, o.count, o.convention) for o in offers] == [
        ("nvidia-a100-80gb-mig-1g.10gb", "nvidia.com/mig-1g.10gb", 7, "gfd-mig-mixed"),
        ("nvidia-a100-80gb-mig-3g.40gb", "nvidia.com/mig-3g.40gb", 2, "gfd-mig-mixed"),
    ]
    assert offers[0].selector == (("nvidia.com/mig-1g.10gb.product", "NVIDIA-A100-SXM4-80GB-MIG-1g.10gb"),)


def test_gfd_mig_mixed_with_whole_gpus_left():
    allocatable = {"nvidia.com/gpu": "1", "nvidia.com/mig-1g.10gb": "7", "nvidia.com/mig-3g.40gb": "0"}
    offers = {o.gpu.name: o for o in node_gpu_offers(mixed_labels(), allocatable)}
    assert offers["nvidia-a100-80gb"].count == 1 and offers["nvidia-a100-80gb"].convention == "gfd"
    assert offers["nvidia-a100-80gb-mig-3g.40gb"].count == 0  # labelled, none allocatable: still offered


def test_gfd_mig_mixed_from_resources_only():
    labels = {"nvidia.com/mig.strategy": "mixed", GFD: "NVIDIA-H100-80GB-HBM3"}
    offer = only_offer(labels, {"nvidia.com/mig-1g.10gb": "14", "nvidia.com/gpu": "0"})
    assert offer.gpu.name == "nvidia-h100-80gb-mig-1g.10gb"
    assert (offer.resource, offer.count) == ("nvidia.com/mig-1g.10gb", 14)
    assert offer.selector == ((GFD, "NVIDIA-H100-80GB-HBM3"),)


def test_gfd_time_slicing_with_shared_suffix():
    labels = {GFD: "NVIDIA-L4-SHARED", "nvidia.com/gpu.replicas": "4", "nvidia.com/gpu.count": "1"}
    offer = only_offer(labels, {"nvidia.com/gpu": "4"})
    assert offer.gpu.name == "nvidia-l4-shared" and offer.gpu.shared
    assert (offer.resource, offer.count) == ("nvidia.com/gpu", 4)
    assert offer.selector == ((GFD, "NVIDIA-L4-SHARED"),)


def test_gfd_time_slicing_renamed_resource():
    labels = {GFD: "Tesla-T4", "nvidia.com/gpu.replicas": "8", "nvidia.com/gpu.count": "1"}
    offer = only_offer(labels, {"nvidia.com/gpu.shared": "8", "nvidia.com/gpu": "0"})
    assert offer.gpu.name == "nvidia-t4-shared"
    assert (offer.resource, offer.count, offer.convention) == ("nvidia.com/gpu.shared", 8, "gfd")


def test_gfd_replicas_one_is_not_shared():
    offer = only_offer({GFD: "NVIDIA-L4", "nvidia.com/gpu.replicas": "1"}, {"nvidia.com/gpu": "1"})
    assert not offer.gpu.shared


@pytest.mark.parametrize("labels, expected", [
    ({GKE: "nvidia-tesla-a100"}, "nvidia-a100-40gb"),
    ({GKE: "nvidia-a100-80gb"}, "nvidia-a100-80gb"),
    ({GKE: "nvidia-h100-80gb"}, "nvidia-h100-80gb"),
    ({GKE: "nvidia-h100-mega-80gb"}, "nvidia-h100-80gb"),
    ({GKE: "nvidia-h200-141gb"}, "nvidia-h200-141gb"),
    ({GKE: "nvidia-b200"}, "nvidia-b200"),
    ({GKE: "nvidia-l4"}, "nvidia-l4"),
    ({GKE: "nvidia-tesla-t4"}, "nvidia-t4"),
    ({GKE: "nvidia-tesla-v100"}, "nvidia-v100-16gb"),
    ({GKE: "nvidia-rtx-pro-6000"}, "nvidia-rtx-pro-6000"),
    ({GKE: "nvidia-tesla-p100"}, "nvidia-p100"),
    ({GKE: "nvidia-a100-80gb", "cloud.google.com/gke-gpu-partition-size": "1g.10gb"},
     "nvidia-a100-80gb-mig-1g.10gb"),
    ({GKE: "nvidia-l4", "cloud.google.com/gke-gpu-sharing-strategy": "time-sharing",
      "cloud.google.com/gke-max-shared-clients-per-gpu": "4"}, "nvidia-l4-shared"),
    ({GKE: "nvidia-tesla-t4", "cloud.google.com/gke-gpu-sharing-strategy": "mps"}, "nvidia-t4-shared"),
])
def test_gke(labels, expected):
    offer = only_offer({**labels, "cloud.google.com/gke-accelerator-count": "2", **CPU_NODE},
                       {"nvidia.com/gpu": "2"}, taints=[{"key": "nvidia.com/gpu", "value": "present",
                                                         "effect": "NoSchedule"}])
    assert offer.gpu.name == expected
    assert (offer.resource, offer.count, offer.convention) == ("nvidia.com/gpu", 2, "gke")
    assert offer.selector[0] == (GKE, labels[GKE])
    assert offer.tolerations == ({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},)


def test_gke_selectors_keep_full_gpus_off_partitioned_and_shared_nodes():
    full = only_offer({GKE: "nvidia-a100-80gb"}, {"nvidia.com/gpu": "8"})
    assert set(full.excluded) == {"cloud.google.com/gke-gpu-partition-size",
                                  "cloud.google.com/gke-gpu-sharing-strategy"}
    mig = only_offer({GKE: "nvidia-a100-80gb", "cloud.google.com/gke-gpu-partition-size": "1g.10gb"},
                     {"nvidia.com/gpu": "56"})
    assert ("cloud.google.com/gke-gpu-partition-size", "1g.10gb") in mig.selector
    assert mig.excluded == ("cloud.google.com/gke-gpu-sharing-strategy",)


@pytest.mark.parametrize("prefix, convention", [(KARPENTER, "karpenter"), (EKS, "eks")])
@pytest.mark.parametrize("name, memory, expected, pins_memory", [
    ("a100", "40960", "nvidia-a100-40gb", True),
    ("a100", "81920", "nvidia-a100-80gb", True),
    ("h100", "81920", "nvidia-h100-80gb", False),
    ("h200", "144384", "nvidia-h200-141gb", False),
    ("b200", "183359", "nvidia-b200", False),
    ("l4", "22888", "nvidia-l4", False),
    ("l40s", "45776", "nvidia-l40s", False),
    ("a10g", "22888", "nvidia-a10g", False),
    ("t4", "16384", "nvidia-t4", False),
    ("t4g", "16384", "nvidia-t4", False),
    ("v100", "16384", "nvidia-v100-16gb", True),
    ("v100", "32768", "nvidia-v100-32gb", True),
    ("rtx-pro-server-6000", "98304", "nvidia-rtx-pro-6000", False),
])
def test_karpenter_and_eks(prefix, convention, name, memory, expected, pins_memory):
    labels = {prefix + "name": name, prefix + "manufacturer": "nvidia", prefix + "count": "8",
              prefix + "memory": memory, **CPU_NODE}
    offer = only_offer(labels, {"nvidia.com/gpu": "8"})
    assert offer.gpu.name == expected
    assert (offer.resource, offer.count, offer.convention) == ("nvidia.com/gpu", 8, convention)
    expected_selector = ((prefix + "name", name),) + (((prefix + "memory", memory),) if pins_memory else ())
    assert offer.selector == expected_selector


def test_karpenter_amd_gpu():
    labels = {KARPENTER + "name": "radeon-pro-v520", KARPENTER + "manufacturer": "amd",
              KARPENTER + "memory": "8192", KARPENTER + "count": "1"}
    offer = only_offer(labels, {"amd.com/gpu": "1"})
    assert offer.gpu.name == "amd-radeon-pro-v520"
    assert (offer.resource, offer.count) == ("amd.com/gpu", 1)


@pytest.mark.parametrize("size, expected", [
    ("Standard_NC24ads_A100_v4", "nvidia-a100-80gb"),
    ("Standard_ND96asr_v4", "nvidia-a100-40gb"),
    ("Standard_ND96amsr_A100_v4", "nvidia-a100-80gb"),
    ("Standard_NC4as_T4_v3", "nvidia-t4"),
    ("Standard_NV36ads_A10_v5", "nvidia-a10"),
    ("Standard_ND96isr_H100_v5", "nvidia-h100-80gb"),
    ("Standard_NC40ads_H100_v5", "nvidia-h100-nvl"),
    ("Standard_NC6s_v3", "nvidia-v100-16gb"),
    ("standard_nc6s_v3", "nvidia-v100-16gb"),
    ("Standard_NC8ads_A10_v4", "nvidia-standard-nc8ads-a10-v4"),  # not in the catalog: kept by name
])
def test_aks(size, expected):
    labels = {"kubernetes.azure.com/accelerator": "nvidia", AKS_SIZE: size,
              "kubernetes.azure.com/agentpool": "gpu"}
    taints = [{"key": "sku", "value": "gpu", "effect": "NoSchedule"}]
    offer = only_offer(labels, {"nvidia.com/gpu": "1"}, taints=taints)
    assert offer.gpu.name == expected
    assert (offer.resource, offer.count, offer.convention) == ("nvidia.com/gpu", 1, "aks")
    assert offer.selector == ((AKS_SIZE, size),)
    assert offer.tolerations == ({"key": "sku", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"},)


def test_aks_cpu_pool_is_not_a_gpu_node():
    assert node_gpu_offers({AKS_SIZE: "Standard_D4s_v5", "kubernetes.azure.com/agentpool": "sys"},
                           CPU_ALLOCATABLE) == []


@pytest.mark.parametrize("labels, expected, selector", [
    ({"amd.com/gpu.product-name": "AMD_Instinct_MI210", "amd.com/gpu.vram": "64G",
      "amd.com/gpu.family": "AI", "amd.com/gpu.device-id": "740f"},
     "amd-mi210", ("amd.com/gpu.product-name", "AMD_Instinct_MI210")),
    ({"amd.com/gpu.product-name": "AMD_Instinct_MI300X_OAM", "amd.com/gpu.vram": "192G"},
     "amd-mi300x", ("amd.com/gpu.product-name", "AMD_Instinct_MI300X_OAM")),
    ({"beta.amd.com/gpu.product-name": "Instinct_MI210", "beta.amd.com/gpu.product-name.Instinct_MI210": "8",
      "beta.amd.com/gpu.vram": "64G", "beta.amd.com/gpu.vram.64G": "8"},
     "amd-mi210", ("beta.amd.com/gpu.product-name", "Instinct_MI210")),
    ({"beta.amd.com/gpu.device-id.740f": "1", "beta.amd.com/gpu.vram.64G": "1",
      "beta.amd.com/gpu.family.AI": "1"}, "amd-mi210", None),
    ({"amd.com/gpu.product-name": "AMD_Instinct_MI250X", "amd.com/gpu.device-id": "7408"},
     "amd-mi250x", ("amd.com/gpu.product-name", "AMD_Instinct_MI250X")),
    ({"amd.com/gpu.product-name": "AMD_Radeon_PRO_W7900", "amd.com/gpu.vram": "48G"},
     "amd-radeon-pro-w7900", ("amd.com/gpu.product-name", "AMD_Radeon_PRO_W7900")),
])
def test_amd(labels, expected, selector):
    offer = only_offer(labels, {"amd.com/gpu": "8"}, taints=[{"key": "amd.com/gpu", "effect": "NoExecute"}])
    assert offer.gpu.name == expected
    assert (offer.resource, offer.count, offer.convention) == ("amd.com/gpu", 8, "amd")
    assert offer.selector == ((selector,) if selector else ())
    assert offer.tolerations == ({"key": "amd.com/gpu", "operator": "Exists", "effect": "NoExecute"},)


def test_amd_labeller_beats_cloud_labels():
    labels = {KARPENTER + "name": "mi300x", KARPENTER + "manufacturer": "amd",
              "amd.com/gpu.product-name": "AMD_Instinct_MI300X_OAM"}
    offer = only_offer(labels, {"amd.com/gpu": "8"})
    assert offer.convention == "amd" and offer.gpu.name == "amd-mi300x"


def test_cross_convention_equality():
    a100_80 = [
        only_offer({GFD: "NVIDIA-A100-SXM4-80GB", "nvidia.com/gpu.memory": "81920"}, {"nvidia.com/gpu": "8"}),
        only_offer({GFD: "NVIDIA-A100-80GB-PCIe", "nvidia.com/gpu.memory": "81920"}, {"nvidia.com/gpu": "1"}),
        only_offer({GKE: "nvidia-a100-80gb"}, {"nvidia.com/gpu": "8"}),
        only_offer({KARPENTER + "name": "a100", KARPENTER + "memory": "81920"}, {"nvidia.com/gpu": "8"}),
        only_offer({EKS + "name": "a100", EKS + "memory": "81920"}, {"nvidia.com/gpu": "8"}),
        only_offer({AKS_SIZE: "Standard_ND96amsr_A100_v4", "kubernetes.azure.com/accelerator": "nvidia"},
                   {"nvidia.com/gpu": "8"}),
    ]
    assert {o.gpu for o in a100_80} == {parse_gpu_type("nvidia-a100-80gb")}
    assert {o.gpu.name for o in a100_80} == {"nvidia-a100-80gb"}
    a100_40 = [
        only_offer({GFD: "A100-SXM4-40GB", "nvidia.com/gpu.memory": "39538"}, {"nvidia.com/gpu": "8"}),
        only_offer({GKE: "nvidia-tesla-a100"}, {"nvidia.com/gpu": "8"}),
        only_offer({KARPENTER + "name": "a100", KARPENTER + "memory": "40960"}, {"nvidia.com/gpu": "8"}),
    ]
    assert {o.gpu.name for o in a100_40} == {"nvidia-a100-40gb"}
    h100 = [
        only_offer({GFD: "NVIDIA-H100-80GB-HBM3"}, {"nvidia.com/gpu": "8"}),
        only_offer({GKE: "nvidia-h100-80gb"}, {"nvidia.com/gpu": "8"}),
        only_offer({EKS + "name": "h100", EKS + "memory": "81920"}, {"nvidia.com/gpu": "8"}),
    ]
    assert {o.gpu for o in h100} == {parse_gpu_type("h100")}
    mig = [
        only_offer({GFD: "NVIDIA-A100-SXM4-80GB-MIG-1g.10gb"}, {"nvidia.com/gpu": "7"}),
        only_offer({GKE: "nvidia-a100-80gb", "cloud.google.com/gke-gpu-partition-size": "1g.10gb"},
                   {"nvidia.com/gpu": "7"}),
        node_gpu_offers(mixed_labels(), {"nvidia.com/mig-1g.10gb": "7"})[0],
    ]
    assert {o.gpu.name for o in mig} == {"nvidia-a100-80gb-mig-1g.10gb"}


def test_gfd_wins_over_cloud_labels_on_the_same_node():
    labels = {GKE: "nvidia-a100-80gb", GFD: "NVIDIA-A100-SXM4-80GB-SHARED", "nvidia.com/gpu.replicas": "2"}
    offer = only_offer(labels, {"nvidia.com/gpu": "16"})
    assert offer.convention == "gfd" and offer.gpu.name == "nvidia-a100-80gb-shared"


def test_cpu_only_nodes_offer_nothing():
    assert node_gpu_offers(CPU_NODE, CPU_ALLOCATABLE) == []
    assert node_gpu_offers({}, {}) == []
    karpenter_cpu = {"karpenter.k8s.aws/instance-cpu": "4", "karpenter.k8s.aws/instance-family": "m5",
                     **CPU_NODE}
    taints = [{"key": "dedicated", "effect": "NoSchedule"}]
    assert node_gpu_offers(karpenter_cpu, CPU_ALLOCATABLE, taints=taints) == []


@pytest.mark.parametrize("allocatable", [{}, {"nvidia.com/gpu": "0"}, {"cpu": "8"},
                                         {"nvidia.com/gpu": "bogus"}, {"nvidia.com/gpu": "-2"},
                                         {"nvidia.com/gpu": None}])
def test_labelled_gpu_without_allocatable_has_count_zero(allocatable):
    offer = only_offer({GFD: "NVIDIA-L4"}, allocatable)
    assert offer.gpu.name == "nvidia-l4" and offer.count == 0


@pytest.mark.parametrize("quantity, count", [("8", 8), (8, 8), ("1k", 1000), ("2e0", 2)])
def test_allocatable_is_read_as_a_kubernetes_quantity(quantity, count):
    assert only_offer({GFD: "NVIDIA-L4"}, {"nvidia.com/gpu": quantity}).count == count


def test_gpu_resource_without_labels_is_offered_as_unknown_model():
    offer = only_offer(CPU_NODE, {"nvidia.com/gpu": "4", **CPU_ALLOCATABLE})
    assert offer.gpu.name == "nvidia-gpu" and offer.gpu.display == "NVIDIA GPU"
    assert (offer.resource, offer.count, offer.convention) == ("nvidia.com/gpu", 4, "resource")
    assert offer.selector == ()
    assert only_offer({}, {"amd.com/gpu": "2"}).gpu.name == "amd-gpu"


def test_taints_become_tolerations():
    taints = [
        {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"},
        {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"},  # duplicates collapse
        {"key": "nvidia.com/gpu", "effect": "NoExecute"},
        {"key": "amd.com/gpu", "value": None, "effect": "PreferNoSchedule", "timeAdded": None},
        {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"},  # not a GPU taint
        {"key": "sku", "value": "cpu", "effect": "NoSchedule"},
    ]
    offer = only_offer({GFD: "NVIDIA-L4"}, {"nvidia.com/gpu": "1"}, taints=taints)
    assert offer.tolerations == (
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoExecute"},
        {"key": "amd.com/gpu", "operator": "Exists", "effect": "PreferNoSchedule"},
    )
    # The inventory de-duplicates the offers of a type's nodes in a dict: equal nodes, one offer.
    same_node = only_offer({GFD: "NVIDIA-L4"}, {"nvidia.com/gpu": "1"}, taints=[dict(t) for t in taints])
    assert same_node == offer and len({offer: None, same_node: None}) == 1


def test_admin_mappings_override_built_in_conventions():
    mapping = LabelMapping("acme.org/accelerator", "big-a100", "a100-80gb")
    labels = {"acme.org/accelerator": "big-a100", GFD: "NVIDIA-A100-SXM4-40GB"}
    offer = only_offer(labels, {"nvidia.com/gpu": "4"}, mappings=[mapping],
                       taints=[{"key": "nvidia.com/gpu", "effect": "NoSchedule"}])
    assert offer.gpu.name == "nvidia-a100-80gb"
    assert (offer.convention, offer.count) == ("custom", 4)
    assert offer.selector == (("acme.org/accelerator", "big-a100"),)
    assert offer.tolerations == ({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},)
    assert only_offer(labels, {"nvidia.com/gpu": "4"}, mappings=[
        LabelMapping("acme.org/accelerator", "other", "l4")]).convention == "gfd"


def test_mapping_for_own_resource_and_unknown_model():
    mapping = LabelMapping("lab.example/gpu", "rtx4090", "nvidia-rtx-4090", resource="example.com/rtx")
    offers = node_gpu_offers({"lab.example/gpu": "rtx4090", GFD: "NVIDIA-L4"},
                             {"example.com/rtx": "2", "nvidia.com/gpu": "1"}, mappings=[mapping])
    assert [(o.gpu.name, o.resource, o.count, o.convention) for o in offers] == [
        ("nvidia-rtx-4090", "example.com/rtx", 2, "custom"), ("nvidia-l4", "nvidia.com/gpu", 1, "gfd")]


def test_bad_mapping_names_the_mapping():
    with pytest.raises(GpuTypeError, match="acme.org/gpu=x.*ambiguous"):
        LabelMapping("acme.org/gpu", "x", "a100")
    with pytest.raises(GpuTypeError, match="acme.org/gpu=x"):
        LabelMapping("acme.org/gpu", "x", "not a gpu!")
    with pytest.raises(GpuTypeError, match="key and resource"):
        LabelMapping("", "x", "l4")


# --- canonical -> scheduling -----------------------------------------------------------------------

def test_conventions_a_cluster_may_declare():
    assert set(FAMILIES) == {"gfd", "gke", "karpenter", "eks", "aks", "amd", "custom"}
    assert set(CONVENTIONS) == set(FAMILIES) | {"gfd-mig-mixed", "gfd-mig-single"}
    assert "resource" not in CONVENTIONS  # node-side only: a GPU no label describes
    assert config.CONVENTIONS is CONVENTIONS


def test_the_gpu_api_exports_what_it_lists():
    assert len(set(gpus.__all__)) == len(gpus.__all__)
    assert all(hasattr(gpus, name) for name in gpus.__all__)
    homes = {f"fedspawner.federation.{m}" for m in ("gpus", "gpu_types", "gpu_labels")}
    public = {n for n, v in vars(gpus).items() if not n.startswith("_") and getattr(v, "__module__", "") in homes}
    assert public <= set(gpus.__all__), public - set(gpus.__all__)


def test_scheduling_gke_h100():
    offer = scheduling_for("nvidia-h100-80gb", "gke")
    assert offer.selector == ((GKE, "nvidia-h100-80gb"), (GKE, "nvidia-h100-mega-80gb"))
    assert (offer.resource, offer.count, offer.convention) == ("nvidia.com/gpu", 0, "gke")
    assert offer.tolerations == ({"key": "nvidia.com/gpu", "operator": "Exists"},)
    assert set(offer.excluded) == {GKE_PARTITION, GKE_SHARING}


def test_scheduling_gke_mig_and_sharing():
    mig = scheduling_for("nvidia-a100-80gb-mig-1g.10gb", "gke")
    assert mig.selector == ((GKE, "nvidia-a100-80gb"), (GKE_PARTITION, "1g.10gb"))
    assert mig.resource == "nvidia.com/gpu" and mig.excluded == (GKE_SHARING,)
    shared = scheduling_for(parse_gpu_type("l4-shared"), "gke")
    assert shared.selector == ((GKE, "nvidia-l4"), (GKE_SHARING, "time-sharing"))
    assert shared.excluded == (GKE_PARTITION,)


def test_scheduling_gfd_full_and_shared():
    offer = scheduling_for("nvidia-a100-40gb", "gfd")
    products = ("NVIDIA-A100-SXM4-40GB", "NVIDIA-A100-PCIE-40GB", "A100-SXM4-40GB", "A100-PCIE-40GB")
    assert offer.selector == tuple((GFD, p) for p in products)  # older drivers leave out "NVIDIA"
    assert (offer.resource, offer.convention) == ("nvidia.com/gpu", "gfd")
    assert offer.tolerations == ({"key": "nvidia.com/gpu", "operator": "Exists"},)
    shared = scheduling_for("nvidia-l4-shared", "gfd")
    assert (shared.selector, shared.resource) == (((GFD, "NVIDIA-L4-SHARED"),), "nvidia.com/gpu")


A100_80_MIG = "nvidia-a100-80gb-mig-1g.10gb"
MIXED_KEY = "nvidia.com/mig-1g.10gb.product"


@pytest.mark.parametrize("convention, strategy", [("gfd", "mixed"), (None, "mixed"), ("gfd-mig-mixed", "mixed"),
                                                  ("amd", "mixed"), ("gfd-mig-mixed", "single")])
def test_mig_slice_on_a_gfd_cluster_is_mixed_by_default(convention, strategy):
    offer = scheduling_for(A100_80_MIG, convention, mig_strategy=strategy)
    assert (offer.resource, offer.convention) == ("nvidia.com/mig-1g.10gb", "gfd-mig-mixed")
    assert offer.selector[0] == (MIXED_KEY, "NVIDIA-A100-SXM4-80GB-MIG-1g.10gb")
    assert {k for k, _ in offer.selector} == {MIXED_KEY}


@pytest.mark.parametrize("convention, strategy", [("gfd", "single"), ("gfd-mig-single", "mixed"),
                                                  ("amd", "single")])
def test_mig_slice_with_the_single_strategy(convention, strategy):
    offer = scheduling_for(A100_80_MIG, convention, mig_strategy=strategy)
    assert (offer.resource, offer.convention) == ("nvidia.com/gpu", "gfd-mig-single")
    assert offer.selector[0] == (GFD, "NVIDIA-A100-SXM4-80GB-MIG-1g.10gb")
    assert {k for k, _ in offer.selector} == {GFD}
    shared = scheduling_for(A100_80_MIG + "-shared", convention, mig_strategy=strategy)
    assert shared.selector[0] == (GFD, "NVIDIA-A100-SXM4-80GB-MIG-1g.10gb-SHARED")


@pytest.mark.parametrize("convention", ["gfd-mig-mixed", "gfd-mig-single"])
def test_full_gpu_on_a_mig_cluster_uses_the_plain_product_label(convention):
    assert scheduling_for("nvidia-a100-80gb", convention) == scheduling_for("nvidia-a100-80gb", "gfd")
    assert scheduling_for("nvidia-a100-80gb", convention).convention == "gfd"


@pytest.mark.parametrize("convention", ["gfd", "gfd-mig-single", "gke", "karpenter", "eks", "custom", None])
def test_amd_gpu_on_a_cluster_whose_labels_do_not_name_it_uses_the_amd_labeller(convention):
    offer = scheduling_for("amd-mi300x", convention)
    assert offer == scheduling_for("amd-mi300x", "amd")
    assert offer.selector == ((AMD_PRODUCT, "AMD_Instinct_MI300X_OAM"), (AMD_PRODUCT, "AMD_Instinct_MI300X"))
    assert (offer.resource, offer.convention) == ("amd.com/gpu", "amd")
    assert offer.tolerations == ({"key": "amd.com/gpu", "operator": "Exists"},)


def test_amd_gpu_on_aks_uses_the_vm_size_aks_labels_it_with():
    offer = scheduling_for("amd-mi300x", "aks")
    assert offer.selector == ((AKS_SIZE, "Standard_ND96isr_MI300X_v5"),)
    assert (offer.resource, offer.convention) == ("amd.com/gpu", "aks")
    assert {"key": "sku", "operator": "Equal", "value": "gpu"} in offer.tolerations
    with pytest.raises(GpuTypeError, match="'amd' convention have no label for amd-mi210-shared"):
        scheduling_for("amd-mi210-shared", "aks")


def test_nvidia_gpu_on_an_amd_cluster_uses_gpu_feature_discovery():
    assert scheduling_for("nvidia-l4", "amd") == scheduling_for("nvidia-l4", "gfd")


def test_scheduling_karpenter_eks_aks():
    karpenter = scheduling_for("nvidia-a100-80gb", "karpenter")
    assert karpenter.selector == ((KARPENTER + "name", "a100"), (KARPENTER + "memory", "81920"))
    assert karpenter.convention == "karpenter"
    assert scheduling_for("l4", "eks").selector == ((EKS + "name", "l4"),)
    assert scheduling_for("t4", "eks").selector == ((EKS + "name", "t4"), (EKS + "name", "t4g"))
    aks = scheduling_for("nvidia-a100-80gb", "aks")
    assert (AKS_SIZE, "Standard_NC24ads_A100_v4") in aks.selector and {k for k, _ in aks.selector} == {AKS_SIZE}
    assert aks.tolerations == ({"key": "nvidia.com/gpu", "operator": "Exists"},
                               {"key": "sku", "operator": "Equal", "value": "gpu"})


MAPPINGS = [LabelMapping("acme.org/gpu", "a100-big", "nvidia-a100-80gb"),
            LabelMapping("acme.org/gpu", "a100-big-2", "nvidia-a100-80gb"),
            LabelMapping("acme.org/other", "a100", "nvidia-a100-80gb"),  # another key would AND: left out
            LabelMapping("acme.org/gpu", "small", "nvidia-l4"),
            LabelMapping("acme.org/gpu", "slice", A100_80_MIG),
            LabelMapping("lab.example/gpu", "rtx4090", "nvidia-rtx-4090", "ex.com/rtx"),
            LabelMapping("acme.org/gpu", "mi300x", "amd-mi300x", "amd.com/gpu")]


@pytest.mark.parametrize("convention", CONVENTIONS)
def test_mappings_come_first_in_every_family(convention):
    offer = scheduling_for("a100-80gb", convention, MAPPINGS)
    assert offer.selector == (("acme.org/gpu", "a100-big"), ("acme.org/gpu", "a100-big-2"))
    assert (offer.resource, offer.convention) == ("nvidia.com/gpu", "custom")
    assert offer.tolerations == ({"key": "nvidia.com/gpu", "operator": "Exists"},)
    assert scheduling_for(A100_80_MIG, convention, MAPPINGS).selector == (("acme.org/gpu", "slice"),)
    mine = scheduling_for("nvidia-rtx-4090", convention, MAPPINGS)
    assert (mine.selector, mine.resource) == ((("lab.example/gpu", "rtx4090"),), "ex.com/rtx")
    amd = scheduling_for("amd-mi300x", convention, MAPPINGS)
    assert amd.selector == (("acme.org/gpu", "mi300x"),)
    assert amd.tolerations == ({"key": "amd.com/gpu", "operator": "Exists"},)


def test_a_mapping_of_another_type_changes_nothing():
    assert scheduling_for("nvidia-t4", "gke", MAPPINGS) == scheduling_for("nvidia-t4", "gke")
    assert scheduling_for("nvidia-a100-80gb-mig-3g.40gb", "gfd", MAPPINGS).convention == "gfd-mig-mixed"


@pytest.mark.parametrize("gpu, convention, message", [
    ("nvidia-a10", "gke", "'gke' convention have no label for nvidia-a10: GKE has no"),
    ("nvidia-a30", "karpenter", "'karpenter' convention have no label for nvidia-a30"),
    ("nvidia-l40s", "aks", "'aks' convention have no label for nvidia-l40s"),
    ("nvidia-a100-80gb-mig-1g.10gb", "karpenter", "do not describe MIG slices"),
    ("nvidia-a100-80gb-mig-1g.10gb", "aks", "do not describe MIG slices"),
    ("nvidia-l4-shared", "eks", "do not describe MIG slices or shared GPUs"),
    ("nvidia-l4", "custom", "No LabelMapping of this cluster names nvidia-l4"),
    ("nvidia-rtx-4090", "custom", "No LabelMapping of this cluster names nvidia-rtx-4090"),
    ("nvidia-rtx-4090", "gfd", "nvidia-rtx-4090 is not in fedspawner's GPU catalog, so no built-in"),
    ("nvidia-h10-80gb", "gke", "nvidia-h10-80gb is not in fedspawner's GPU catalog"),
    ("amd-radeon-pro-v520", "karpenter", "amd-radeon-pro-v520 is not in fedspawner's GPU catalog"),
    ("intel-max-1550", "gfd", "intel-max-1550 is not in fedspawner's GPU catalog"),
    ("nvidia-l4", "openshift", "Unknown GPU label convention 'openshift'; use one of gfd, gke, .*gfd-mig-single"),
    ("nvidia-l4", "resource", "Unknown GPU label convention 'resource'"),
    ("nvidia-l4", "GFD", "Unknown GPU label convention 'GFD'"),
    ("a100", "gke", "ambiguous: it could be nvidia-a100-40gb or nvidia-a100-80gb"),
    ("l4-mig-1g.5gb", "gfd", "cannot be split into MIG slices"),
    (GpuType("nvidia", "rtx-4090"), "gfd", "nvidia-rtx-4090 is not in fedspawner's GPU catalog"),
])
def test_scheduling_errors_say_what_to_do(gpu, convention, message):
    with pytest.raises(GpuTypeError, match=message) as error:
        scheduling_for(gpu, convention)
    text = str(error.value)
    if "convention have no label" in text or "catalog" in text:
        assert text.endswith("Declare a LabelMapping for that cluster, or choose another GPU type.")


def test_unknown_mig_strategy_is_an_error():
    with pytest.raises(GpuTypeError, match="Unknown MIG strategy 'none'; use one of mixed, single"):
        scheduling_for("nvidia-l4", "gfd", mig_strategy="none")


def test_scheduling_accepts_a_parsed_type_and_keeps_it():
    gpu = GpuType("nvidia", "a100", 81559, form_factor="PCIe", product="NVIDIA-A100-80GB-PCIe")
    assert scheduling_for(gpu, "gfd").gpu is gpu


# round trips: scheduling_for's selector, put on a node as labels, reads back as the same type

ROUND_TRIP_MAPPINGS = [LabelMapping("acme.org/gpu", model.name, model.name) for model in gpu_catalog.MODELS]


def round_trip(gpu, convention, mappings=(), mig_strategy="mixed"):
    """The offer scheduling_for gives, the labels of a node it selects, and what that node offers."""
    wanted = scheduling_for(gpu, convention, mappings, mig_strategy)
    labels = dict(reversed(wanted.selector))  # the first value of each key
    return wanted, labels, node_gpu_offers(labels, {wanted.resource: "3"}, mappings=mappings)


def _types_to_try():
    for model in gpu_catalog.MODELS:
        yield GpuType.from_model(model)
        yield GpuType.from_model(model, shared=True)
        if model.mig:
            yield GpuType.from_model(model, mig_profile="1g.10gb")
            yield GpuType.from_model(model, mig_profile="1g.10gb", shared=True)


@pytest.mark.parametrize("convention, strategy", [(f, "mixed") for f in FAMILIES] + [("gfd", "single")])
def test_round_trip(convention, strategy):
    mappings = ROUND_TRIP_MAPPINGS if convention == "custom" else ()
    done = 0
    for gpu in _types_to_try():
        try:
            wanted, labels, offers = round_trip(gpu, convention, mappings, strategy)
        except GpuTypeError:
            continue
        assert [(o.gpu, o.gpu.name, o.resource, o.count, o.convention) for o in offers] == [
            (gpu, gpu.name, wanted.resource, 3, wanted.convention)], (convention, gpu.name)
        assert matches(node_affinity([wanted]), labels) and matches(node_affinity(offers), labels)
        done += 1
    assert done >= 4, f"only {done} types round-trip through {convention}"


@pytest.mark.parametrize("convention, names", [
    ("gfd", {"nvidia-a100-80gb", "nvidia-a100-80gb-mig-1g.10gb", "nvidia-h100-80gb-mig-1g.10gb-shared",
             "nvidia-l4-shared", "nvidia-t4", "amd-mi300x"}),
    ("gke", {"nvidia-a100-40gb", "nvidia-a100-80gb", "nvidia-h100-80gb", "nvidia-l4", "nvidia-t4",
             "nvidia-a100-80gb-mig-1g.10gb", "nvidia-l4-shared", "amd-mi210"}),
    ("karpenter", {"nvidia-a100-40gb", "nvidia-a100-80gb", "nvidia-h100-80gb", "nvidia-a10g", "amd-mi250x"}),
    ("eks", {"nvidia-v100-16gb", "nvidia-v100-32gb", "nvidia-t4", "nvidia-l40s"}),
    ("aks", {"nvidia-a100-40gb", "nvidia-a100-80gb", "nvidia-t4", "nvidia-a10", "nvidia-v100-16gb",
             "amd-mi300x", "amd-mi100"}),
    ("amd", {"amd-mi210", "amd-mi250x", "amd-mi300x", "amd-mi325x", "nvidia-h200-141gb"}),
])
def test_round_trip_of_the_types_clusters_have(convention, names):
    for name in names:
        wanted, _, offers = round_trip(name, convention)
        assert [o.gpu.name for o in offers] == [name], (convention, name, wanted.selector)
        assert offers[0].convention == wanted.convention


def test_round_trip_through_single_strategy_nodes():
    wanted, labels, offers = round_trip(A100_80_MIG, "gfd-mig-single")
    assert labels == {GFD: "NVIDIA-A100-SXM4-80GB-MIG-1g.10gb"}
    assert [(o.gpu.name, o.resource, o.convention) for o in offers] == [
        (A100_80_MIG, "nvidia.com/gpu", "gfd-mig-single")]


def test_a_selector_does_not_pick_the_other_variant():
    a100_40 = node_affinity([scheduling_for("nvidia-a100-40gb", "karpenter")])
    assert not matches(a100_40, {KARPENTER + "name": "a100", KARPENTER + "memory": "81920"})
    gke_full = node_affinity([scheduling_for("nvidia-a100-80gb", "gke")])
    partitioned = {GKE: "nvidia-a100-80gb", GKE_PARTITION: "1g.10gb"}
    assert not matches(gke_full, partitioned)
    assert matches(gke_full, {GKE: "nvidia-a100-80gb"})
    gfd_full = node_affinity([scheduling_for("nvidia-a100-80gb", "gfd")])
    assert not matches(gfd_full, {GFD: "NVIDIA-A100-SXM4-80GB-MIG-1g.10gb"})
    assert not matches(gfd_full, {GFD: "NVIDIA-A100-SXM4-80GB-SHARED"})


# --- node affinity ---------------------------------------------------------------------------------

def _offer(*selector, excluded=()):
    return GpuOffer(GpuType("nvidia", "l4"), "nvidia.com/gpu", 1, tuple(selector), excluded=tuple(excluded))


def _terms(affinity):
    return affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]


def test_node_affinity_shape():
    affinity = node_affinity([_offer((GFD, "NVIDIA-L4"))])
    term = {"matchExpressions": [{"key": GFD, "operator": "In", "values": ["NVIDIA-L4"]}]}
    assert affinity == {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [term]}}}
    json.dumps(affinity)


def test_node_affinity_groups_values_of_one_key_and_ors_different_keys():
    offers = [_offer((GFD, "NVIDIA-L4")), _offer((GKE, "nvidia-l4")), _offer((GFD, "NVIDIA-L4-SHARED")),
              _offer((GFD, "NVIDIA-L4")), _offer((KARPENTER + "name", "l4"))]
    assert _terms(node_affinity(offers)) == [
        {"matchExpressions": [{"key": GFD, "operator": "In", "values": ["NVIDIA-L4", "NVIDIA-L4-SHARED"]}]},
        {"matchExpressions": [{"key": GKE, "operator": "In", "values": ["nvidia-l4"]}]},
        {"matchExpressions": [{"key": KARPENTER + "name", "operator": "In", "values": ["l4"]}]},
    ]


def test_node_affinity_keeps_multi_key_selectors_exact():
    name, memory = KARPENTER + "name", KARPENTER + "memory"
    a = _offer((name, "a100"), (memory, "40960"))
    b = _offer((name, "a100"), (memory, "81920"))
    c = _offer((name, "h100"), (memory, "81920"))
    terms = _terms(node_affinity([a, b]))
    assert terms == [{"matchExpressions": [{"key": name, "operator": "In", "values": ["a100"]},
                                           {"key": memory, "operator": "In", "values": ["40960", "81920"]}]}]
    affinity = node_affinity([a, c])  # differ in two keys: merging would also admit h100 with 40960
    assert len(_terms(affinity)) == 2
    assert not matches(affinity, {name: "h100", memory: "40960"})


def test_node_affinity_exclusions_and_empty_selectors():
    excluded = "cloud.google.com/gke-gpu-partition-size"
    terms = _terms(node_affinity([_offer((GKE, "nvidia-l4"), excluded=[excluded])]))
    assert terms[0]["matchExpressions"][-1] == {"key": excluded, "operator": "DoesNotExist"}
    mixed = node_affinity([_offer((GKE, "nvidia-l4"), excluded=[excluded]), _offer((GKE, "nvidia-tesla-t4"))])
    assert len(_terms(mixed)) == 2  # different exclusions never merge
    assert node_affinity([]) == {}
    assert node_affinity([_offer((GFD, "NVIDIA-L4")), _offer()]) == {}  # one offer fits any node
    one = [_offer((GFD, "NVIDIA-L4"))]
    assert node_selector_terms(one) == _terms(node_affinity(one))


@pytest.mark.parametrize("labels,name,model,memory,display", [
    # GFD: the memory label (MiB, as the driver reports it) gives the size of an unknown product
    ({GFD: "NVIDIA-X1000-Server-Edition", "nvidia.com/gpu.memory": "97887"},
     "nvidia-x1000", "x1000", 98304, "NVIDIA X1000 96GB"),
    ({GFD: "NVIDIA-RTX-6000-Ada-Generation", "nvidia.com/gpu.memory": "49140"},
     "nvidia-rtx-6000-ada", "rtx-6000-ada", 49152, "NVIDIA RTX 6000 ADA 48GB"),
    # a product string naming its size keeps it in the name, not in the model
    ({GFD: "NVIDIA-H800-PCIe-80GB", "nvidia.com/gpu.memory": "81559"},
     "nvidia-h800-80gb", "h800", 81920, "NVIDIA H800 80GB"),
    ({"karpenter.k8s.aws/instance-gpu-name": "x1000", "karpenter.k8s.aws/instance-gpu-memory": "65536"},
     "nvidia-x1000", "x1000", 65536, "NVIDIA X1000 64GB"),
    ({"amd.com/gpu.product-name": "AMD_Instinct_MI400X", "amd.com/gpu.vram": "192G"},
     "amd-mi400x", "mi400x", 196608, "AMD MI400X 192GB"),
])
def test_unknown_hardware_gets_memory_from_labels_and_a_clean_model(labels, name, model, memory, display):
    resource = "amd.com/gpu" if "amd.com/gpu.product-name" in labels else "nvidia.com/gpu"
    gpu = only_offer(labels, {resource: "4"}).gpu
    assert (gpu.name, gpu.model, gpu.memory_mib, gpu.display) == (name, model, memory, display)
    assert parse_gpu_type(name, strict=False).name == name


def test_unknown_mig_slice_takes_no_memory_from_the_whole_gpu_label():
    gpu = only_offer({GFD: "NVIDIA-X1000-MIG-1g.12gb", "nvidia.com/gpu.memory": "12032"},
                     {"nvidia.com/gpu": "7"}).gpu
    assert (gpu.name, gpu.memory_mib) == ("nvidia-x1000-mig-1g.12gb", None)
