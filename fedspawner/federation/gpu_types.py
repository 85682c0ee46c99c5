"""GPU identity: the canonical GPU type, what a node or convention offers of it, and its names.

Canonical names: ``<vendor>-<model>`` with a ``-<N>gb`` suffix for models sold in several memory
sizes (``nvidia-a100-40gb``, ``nvidia-l4``, ``amd-mi300x``), then ``-mig-<profile>`` for a MIG
slice and ``-shared`` for a time-sliced or otherwise shared device:
``nvidia-a100-80gb-mig-1g.10gb``, ``nvidia-l4-shared``. Products the catalog does not know get
a slug of their product string (``NVIDIA-GeForce-RTX-4090`` -> ``nvidia-rtx-4090``).

Import these names from :mod:`fedspawner.federation.gpus`, the package's GPU API.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

from ..errors import UserError
from . import gpu_catalog as catalog
from .gpu_catalog import MIG_SUFFIX_RE, GpuModel

_NAME_RE = re.compile(r"^[a-z0-9]+-[a-z0-9][a-z0-9.+-]*$")

# A node selector: pairs with different keys must all match (AND); pairs that repeat a key list
# alternative values for it (``In``).
Selector = tuple[tuple[str, str], ...]


class GpuTypeError(UserError, ValueError):
    """A GPU type name, label or convention that cannot be resolved; the message says what to do."""


@dataclass(frozen=True)
class GpuType:
    """A canonical GPU type. Identity is vendor, model, memory, MIG profile and sharing only.

    For catalog models ``memory_mib`` is snapped to the model's nominal memory, so that the
    ``39538`` MiB a driver reports and the ``40960`` a cloud label says compare equal.
    ``form_factor`` and ``product`` are detail from the node and take no part in equality.
    The derived names are computed once per object: the inventory asks for them per node.
    """

    vendor: str
    model: str
    memory_mib: int | None = None
    mig_profile: str | None = None
    shared: bool = False
    form_factor: str | None = field(default=None, compare=False)
    product: str | None = field(default=None, compare=False)
    # A type outside the catalog whose product string names its memory keeps it in its name
    # (``nvidia-h800-80gb``), as catalog models sold in several sizes do.
    memory_in_name: bool = field(default=False, compare=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalise in place once, at construction
        set_(self, "vendor", self.vendor.lower())
        set_(self, "model", self.model.lower())
        if self.mig_profile is not None:
            set_(self, "mig_profile", self.mig_profile.lower())
        family = catalog.FAMILIES.get((self.vendor, self.model))
        if family and (self.memory_mib is not None or len(family) == 1):
            set_(self, "memory_mib", catalog.pick(family, self.memory_mib).memory_mib)

    @cached_property
    def catalog_entry(self) -> GpuModel | None:
        """The catalog model of this type, or None for a product the catalog does not know."""
        return catalog.BY_IDENTITY.get((self.vendor, self.model, self.memory_mib or 0))

    @property
    def base(self) -> GpuType:
        """The full, unshared device this type is (a slice or share) of."""
        return replace(self, mig_profile=None, shared=False)

    @cached_property
    def name(self) -> str:
        """Canonical id, e.g. ``nvidia-a100-80gb``, ``nvidia-a100-80gb-mig-1g.10gb``, ``nvidia-l4-shared``."""
        entry = self.catalog_entry
        if entry:
            base = entry.name
        else:
            sized = self.memory_in_name and self.memory_mib
            base = f"{self.vendor}-{self.model}" + (f"-{self.memory_mib // 1024}gb" if sized else "")
        return _with_suffix(base, self.mig_profile, self.shared)

    @cached_property
    def display(self) -> str:
        """Human-readable name, e.g. ``NVIDIA A100 80GB · MIG 1g.10gb``."""
        entry = self.catalog_entry
        if entry:
            text = entry.display
        else:
            vendor = catalog.VENDOR_DISPLAY.get(self.vendor, self.vendor.capitalize())
            text = f"{vendor} {self.model.replace('-', ' ').upper()}"
            if self.memory_mib:
                text += f" {self.memory_mib // 1024}GB"
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
    """What one node (or, from ``scheduling_for``, one cluster) offers of one GPU type.

    ``selector`` picks the nodes with this GPU (see :data:`Selector`), ``excluded`` lists label
    keys that must be absent (a GKE full GPU excludes MIG-partitioned nodes), ``tolerations`` are
    Kubernetes toleration dicts for the node's GPU taints, and ``count`` is the node's allocatable
    amount of ``resource``. ``convention`` is the labelling the selector uses: one of
    ``gpus.CONVENTIONS`` (GFD MIG slices name their strategy, ``gfd-mig-mixed`` or
    ``gfd-mig-single``), or ``resource`` for a node whose GPU no label describes.
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
    ``gpu_type`` is ``gpu`` parsed, at construction.
    """

    key: str
    value: str
    gpu: str
    resource: str = "nvidia.com/gpu"
    gpu_type: GpuType = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.key or not self.resource:
            raise GpuTypeError(f"GPU label mapping {self.key}={self.value}: key and resource must be set.")
        try:
            object.__setattr__(self, "gpu_type", parse_gpu_type(self.gpu, strict=False))
        except GpuTypeError as error:
            raise GpuTypeError(f"GPU label mapping {self.key}={self.value}: {error}") from None


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
        model, memory = catalog.split_memory(model)
        return GpuType(vendor, model, memory, mig_profile=mig, shared=shared, memory_in_name=memory is not None)
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
