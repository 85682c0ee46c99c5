"""Known GPU models and how each labelling convention spells them.

``MODELS`` is the one table: an entry per model, giving its canonical name, display name, nominal
memory and its label values under every convention fedspawner reads. Adding a model is adding
one entry. The functions below answer "which model is this label value?": first by an exact
(case-insensitive) lookup in the table, then by a token heuristic that tolerates the small
spelling differences between driver versions (``A100-SXM4-40GB`` vs ``NVIDIA-A100-SXM4-40GB``).

The spellings were checked against what the projects publish: NVIDIA GPU Feature Discovery
(``nvidia.com/gpu.product`` is the NVML device name with spaces turned into dashes), GKE's
``cloud.google.com/gke-accelerator`` values, Karpenter's and EKS Auto Mode's
``instance-gpu-name`` values (with ``instance-gpu-memory`` in MiB), AKS VM sizes and the AMD
node labeller's ``amd.com/gpu.product-name`` (the sysfs product name with spaces turned into
underscores).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from collections.abc import Mapping
from functools import cached_property, lru_cache


@dataclass(frozen=True)
class GpuModel:
    """A known GPU model and its spellings in every convention fedspawner reads.

    ``name`` is the canonical base name (``nvidia-a100-80gb``); a ``-<N>gb`` suffix in it marks a
    model that exists in several memory sizes. ``memory_mib`` is the nominal memory of one
    schedulable device. The first value of each spelling tuple is the primary one.
    """

    name: str
    display: str
    memory_mib: int
    gfd: tuple[str, ...] = ()  # nvidia.com/gpu.product values (full GPU, no -MIG/-SHARED suffix)
    gke: tuple[str, ...] = ()  # cloud.google.com/gke-accelerator values
    aws: tuple[str, ...] = ()  # karpenter.k8s.aws/ and eks.amazonaws.com/instance-gpu-name values
    aks: tuple[str, ...] = ()  # node.kubernetes.io/instance-type values of AKS GPU VM sizes
    amd: tuple[str, ...] = ()  # amd.com/gpu.product-name values
    amd_device_ids: tuple[str, ...] = ()  # PCI device ids, for nodes labelled only by device id
    aliases: tuple[str, ...] = ()  # extra names users may type
    mig: bool = False  # can be partitioned into MIG slices

    @cached_property
    def vendor(self) -> str:
        """Vendor slug: the first dash-separated part of the name."""
        return self.name.split("-", 1)[0]

    @cached_property
    def model(self) -> str:
        """Model slug: the name without vendor and memory suffix (``a100``)."""
        return re.sub(r"-\d+gb$", "", self.name.split("-", 1)[1])


def _m(name: str, display: str, memory_gb: int, *, gfd: str = "", gke: str = "", aws: str = "",
       aks: str = "", amd: str = "", ids: str = "", aliases: str = "", mig: bool = False) -> GpuModel:
    """Build a table entry; each spelling argument is a space-separated list."""
    return GpuModel(name, display, memory_gb * 1024, tuple(gfd.split()), tuple(gke.split()),
                    tuple(aws.split()), tuple(aks.split()), tuple(amd.split()),
                    tuple(ids.lower().split()), tuple(aliases.lower().split()), mig)


# One entry per model. The AWS memory of the two-size families (A100, V100) must equal the nominal
# memory here: Karpenter publishes 40960/81920 and 16384/32768 MiB, and gpus.scheduling_for uses it.
MODELS: tuple[GpuModel, ...] = (
    _m("nvidia-a100-40gb", "NVIDIA A100 40GB", 40, mig=True, aws="a100", gke="nvidia-tesla-a100",
       gfd="NVIDIA-A100-SXM4-40GB NVIDIA-A100-PCIE-40GB A100-SXM4-40GB A100-PCIE-40GB",
       aks="Standard_ND96asr_v4"),
    _m("nvidia-a100-80gb", "NVIDIA A100 80GB", 80, mig=True, aws="a100", gke="nvidia-a100-80gb",
       gfd="NVIDIA-A100-SXM4-80GB NVIDIA-A100-80GB-PCIe A100-SXM4-80GB A100-80GB-PCIe",
       aks="Standard_ND96amsr_A100_v4 Standard_NC24ads_A100_v4 Standard_NC48ads_A100_v4 "
           "Standard_NC96ads_A100_v4"),
    _m("nvidia-h100-80gb", "NVIDIA H100 80GB", 80, mig=True, aws="h100",
       gke="nvidia-h100-80gb nvidia-h100-mega-80gb", gfd="NVIDIA-H100-80GB-HBM3 NVIDIA-H100-PCIe",
       aks="Standard_ND96isr_H100_v5"),
    _m("nvidia-h100-nvl", "NVIDIA H100 NVL 94GB", 94, mig=True, gfd="NVIDIA-H100-NVL",
       aks="Standard_NC40ads_H100_v5 Standard_NC80adis_H100_v5"),
    _m("nvidia-h200-141gb", "NVIDIA H200 141GB", 141, mig=True, aws="h200", gke="nvidia-h200-141gb",
       gfd="NVIDIA-H200 NVIDIA-H200-NVL", aks="Standard_ND96isr_H200_v5"),
    _m("nvidia-b200", "NVIDIA B200", 180, mig=True, gfd="NVIDIA-B200", gke="nvidia-b200", aws="b200"),
    _m("nvidia-l4", "NVIDIA L4", 24, gfd="NVIDIA-L4", gke="nvidia-l4", aws="l4"),
    _m("nvidia-l40s", "NVIDIA L40S", 48, gfd="NVIDIA-L40S", aws="l40s"),
    _m("nvidia-a10", "NVIDIA A10", 24, gfd="NVIDIA-A10",
       aks="Standard_NV36ads_A10_v5 Standard_NV36adms_A10_v5 Standard_NV72ads_A10_v5"),
    _m("nvidia-a10g", "NVIDIA A10G", 24, gfd="NVIDIA-A10G", aws="a10g"),
    _m("nvidia-t4", "NVIDIA T4", 16, gfd="Tesla-T4", gke="nvidia-tesla-t4", aws="t4 t4g",
       aks="Standard_NC4as_T4_v3 Standard_NC8as_T4_v3 Standard_NC16as_T4_v3 Standard_NC64as_T4_v3"),
    _m("nvidia-v100-16gb", "NVIDIA V100 16GB", 16, aws="v100", gke="nvidia-tesla-v100",
       gfd="Tesla-V100-SXM2-16GB Tesla-V100-PCIE-16GB",
       aks="Standard_NC6s_v3 Standard_NC12s_v3 Standard_NC24s_v3 Standard_NC24rs_v3"),
    _m("nvidia-v100-32gb", "NVIDIA V100 32GB", 32, aws="v100",
       gfd="Tesla-V100-SXM2-32GB Tesla-V100-PCIE-32GB", aks="Standard_ND40rs_v2"),
    _m("nvidia-a30", "NVIDIA A30", 24, mig=True, gfd="NVIDIA-A30"),
    _m("nvidia-a40", "NVIDIA A40", 48, gfd="NVIDIA-A40"),
    _m("nvidia-rtx-a6000", "NVIDIA RTX A6000", 48, gfd="NVIDIA-RTX-A6000", aliases="a6000"),
    _m("nvidia-rtx-pro-6000", "NVIDIA RTX PRO 6000", 96, mig=True, gke="nvidia-rtx-pro-6000",
       gfd="NVIDIA-RTX-PRO-6000-Blackwell-Server-Edition", aws="rtx-pro-server-6000"),
    _m("amd-mi100", "AMD Instinct MI100", 32, amd="AMD_Instinct_MI100", ids="738c"),
    _m("amd-mi210", "AMD Instinct MI210", 64, amd="AMD_Instinct_MI210 Instinct_MI210", ids="740f"),
    # Kubernetes schedules an MI250X per GCD: two devices of 64 GB each.
    _m("amd-mi250x", "AMD Instinct MI250X", 64, amd="AMD_Instinct_MI250X", ids="7408"),
    _m("amd-mi300x", "AMD Instinct MI300X", 192, amd="AMD_Instinct_MI300X_OAM AMD_Instinct_MI300X",
       ids="74a1", aks="Standard_ND96isr_MI300X_v5"),
    _m("amd-mi325x", "AMD Instinct MI325X", 256, amd="AMD_Instinct_MI325X_OAM AMD_Instinct_MI325X",
       ids="74a5"),
)

# Extended resource of a full device, and display name, per vendor.
VENDOR_RESOURCES = {"nvidia": "nvidia.com/gpu", "amd": "amd.com/gpu", "intel": "gpu.intel.com/i915",
                    "habana": "habana.ai/gaudi"}
VENDOR_DISPLAY = {"nvidia": "NVIDIA", "amd": "AMD", "intel": "Intel", "habana": "Habana"}

# Label keys the conventions use, and the MIG profile suffix of names and GFD products.
GFD_PRODUCT = "nvidia.com/gpu.product"
GFD_MEMORY = "nvidia.com/gpu.memory"
GKE_ACCELERATOR = "cloud.google.com/gke-accelerator"
GKE_PARTITION = "cloud.google.com/gke-gpu-partition-size"
GKE_SHARING = "cloud.google.com/gke-gpu-sharing-strategy"
AWS_PREFIXES = {"karpenter": "karpenter.k8s.aws", "eks": "eks.amazonaws.com"}
AKS_ACCELERATOR = "kubernetes.azure.com/accelerator"
INSTANCE_TYPE = "node.kubernetes.io/instance-type"
AMD_PRODUCT = "amd.com/gpu.product-name"

MIG_PROFILE = r"(?:\d+c\.)?\d+g\.\d+gb(?:\+[a-z]+)?"
MIG_SUFFIX_RE = re.compile(rf"^(?P<base>.+?)-mig-(?P<profile>{MIG_PROFILE})$", re.IGNORECASE)

# Catalog entries by identity and by family (same vendor and model slug, several memory sizes).
BY_IDENTITY: dict[tuple[str, str, int], GpuModel] = {(m.vendor, m.model, m.memory_mib): m for m in MODELS}
FAMILIES: dict[tuple[str, str], tuple[GpuModel, ...]] = {}
for _model in MODELS:
    FAMILIES[(_model.vendor, _model.model)] = FAMILIES.get((_model.vendor, _model.model), ()) + (_model,)


def _index(field: str) -> dict[str, tuple[GpuModel, ...]]:
    """Map each lower-cased spelling in ``field`` to the models that use it."""
    index: dict[str, tuple[GpuModel, ...]] = {}
    for model in MODELS:
        for value in getattr(model, field):
            index[value.lower()] = index.get(value.lower(), ()) + (model,)
    return index


INDEXES: dict[str, dict[str, tuple[GpuModel, ...]]] = {
    field: _index(field) for field in ("gfd", "gke", "aws", "aks", "amd", "amd_device_ids")
}

# Tokens that name a vendor or a product line rather than the model; dropped before matching.
_VENDOR_WORDS = {"nvidia": "nvidia", "tesla": "nvidia", "geforce": "nvidia", "amd": "amd", "instinct": "amd"}
# Tokens that describe packaging or memory technology, never identity.
_FORM_RE = re.compile(r"^(sxm\d*|pcie|oam)$")
# Marketing words GFD product strings carry ("...-Server-Edition", "...-Ada-Generation") are no part
# of a model's name either.
_DROPPED = {"hbm2", "hbm2e", "hbm3", "hbm3e", "mega", "server", "edition", "generation"}
_MEMORY_RE = re.compile(r"^(\d+)gb?$")
_SPLIT_RE = re.compile(r"[\s_/-]+")


@dataclass(frozen=True)
class ProductWords:
    """A product string broken into what matters for identity."""

    vendor: str | None  # from a vendor word such as "NVIDIA" or "Tesla"
    tokens: tuple[str, ...]  # model tokens, lower case, memory tokens included
    memory_mib: int | None  # from a token such as "80GB" or "64G"
    form_factor: str | None  # "SXM4", "PCIe", "OAM"


@lru_cache(maxsize=4096)
def product_words(text: str) -> ProductWords:
    """Split a product string (``NVIDIA-A100-SXM4-80GB``, ``AMD_Instinct_MI300X_OAM``) into words."""
    vendor = form = None
    memory = None
    tokens: list[str] = []
    for token in _SPLIT_RE.split(text.strip().lower()):
        if not token or token in _DROPPED:
            continue
        if token in _VENDOR_WORDS:
            vendor = vendor or _VENDOR_WORDS[token]
        elif _FORM_RE.match(token):
            form = form or ("PCIe" if token == "pcie" else token.upper())
        else:
            found = _MEMORY_RE.match(token)
            if found and memory is None:
                memory = int(found.group(1)) * 1024
            tokens.append(token)
    return ProductWords(vendor, tuple(tokens), memory, form)


def slug(text: str) -> str:
    """A model slug for a product no entry knows: ``NVIDIA-GeForce-RTX-4090-24GB`` -> ``rtx-4090``
    (memory is no part of a model; see ``product_words(text).memory_mib``)."""
    words = product_words(text)
    return "-".join(t for t in words.tokens if not _MEMORY_RE.match(t)) or "gpu"


def split_memory(model: str) -> tuple[str, int | None]:
    """A model name with a trailing memory size apart: ``h800-80gb`` -> ``("h800", 81920)``."""
    head, _, tail = model.rpartition("-")
    found = _MEMORY_RE.match(tail)
    return (head, int(found.group(1)) * 1024) if head and found else (model, None)


def nominal_mib(reported_mib: int | None) -> int | None:
    """Memory a driver or label reports (``97887`` MiB) as whole GiB in MiB (``98304``)."""
    if reported_mib is None or reported_mib <= 0:
        return None
    return max(1, round(reported_mib / 1024)) * 1024


def pick(models: tuple[GpuModel, ...], memory_mib: int | None) -> GpuModel:
    """The model among ``models`` whose nominal memory is nearest ``memory_mib`` (else the first)."""
    if memory_mib is None or len(models) == 1:
        return models[0]
    return min(models, key=lambda m: abs(m.memory_mib - memory_mib))


@lru_cache(maxsize=4096)
def candidates(field: str, text: str, vendor: str | None = None,
               memory_mib: int | None = None) -> tuple[GpuModel, ...]:
    """Catalog models that ``text`` (a label value of convention ``field``) may denote.

    One model when the text and memory settle it, several when only the family is known (``a100``
    with no memory), none when the table has no such model. ``field`` is a ``GpuModel`` spelling
    field, or ``""`` to use only the token heuristic.
    """
    exact = INDEXES[field].get(text.strip().lower(), ()) if field else ()
    if not exact:
        words = product_words(text)
        vendor = vendor or words.vendor
        best: tuple[GpuModel, ...] = ()
        best_len = 0
        for (family_vendor, model), family in FAMILIES.items():
            wanted = model.split("-")
            if (vendor in (None, family_vendor) and set(wanted) <= set(words.tokens)
                    and len(wanted) > best_len):
                best, best_len = family, len(wanted)
        exact = best
        memory_mib = words.memory_mib or memory_mib
    if len(exact) > 1 and memory_mib is not None:
        return (pick(exact, memory_mib),)
    return exact


def amd_label(labels: Mapping[str, str], name: str) -> tuple[str | None, str | None]:
    """An AMD labeller property: ``(value, key it was read from)``, preferring value-style labels."""
    for prefix in ("amd.com", "beta.amd.com"):
        key = f"{prefix}/gpu.{name}"
        if labels.get(key):
            return labels[key], key
    for prefix in ("amd.com", "beta.amd.com"):  # count-style only: <key>.<value>=<count>
        start = f"{prefix}/gpu.{name}."
        values = [key[len(start):] for key in labels if key.startswith(start)]
        if len(values) == 1:
            return values[0], None
    return None, None


def _guess(text: str) -> tuple[GpuModel, ...]:
    """Catalog models a free-form name denotes, only if its words name the model and nothing else."""
    words = product_words(text)
    plain = {t for t in words.tokens if not _MEMORY_RE.match(t)}
    models = tuple(m for m in candidates("", text) if set(m.model.split("-")) == plain)
    if words.memory_mib is not None:  # "a100-90gb" names no A100 at all
        models = tuple(m for m in models if abs(m.memory_mib - words.memory_mib) <= m.memory_mib // 20)
    return models


def normalise_name(text: str) -> str:
    """A user-typed GPU name in lower case with dashes: ``NVIDIA A100_80GB`` -> ``nvidia-a100-80gb``."""
    return re.sub(r"[\s_]+", "-", str(text).strip().lower())


def _alias_index() -> dict[str, tuple[GpuModel, ...]]:
    """Every name a user may type for a catalog model, normalised, mapped to its models."""
    index: dict[str, tuple[GpuModel, ...]] = {}
    for model in MODELS:
        names = {model.name, model.name.split("-", 1)[1], model.model, f"{model.vendor}-{model.model}",
                 *model.aliases, *map(normalise_name, (*model.gfd, *model.gke, *model.aws, *model.aks,
                                                       *model.amd))}
        for name in names:
            index[name] = index.get(name, ()) + (model,)
    return index


ALIASES = _alias_index()


def resolve_name(text: str) -> tuple[GpuModel, ...]:
    """Catalog models a normalised name without MIG/shared suffix denotes (several if ambiguous)."""
    return ALIASES.get(text) or _guess(text)


def close_names(text: str, names: list[str]) -> list[str]:
    """Up to three of ``names`` close to ``text``, also comparing without the vendor prefix."""
    short = {name.split("-", 1)[-1]: name for name in names}
    close = difflib.get_close_matches(text, names, n=3, cutoff=0.6)
    close += [short[s] for s in difflib.get_close_matches(text, list(short), n=3, cutoff=0.6)]
    return list(dict.fromkeys(close))[:3]
