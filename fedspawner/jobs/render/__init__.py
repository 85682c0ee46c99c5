"""The pure renderers: each turns a ``JobSpec`` and its ``RenderTarget`` into the manifests one
member cluster runs (``batch``, ``trainer``, ``spark_operator``, ``spark_standalone``).

Which renderer runs which kind on which backend is declared by the kinds
(``fedspawner.jobs.kinds``), which import these modules; ``render``, ``backends_for`` and the
other registry functions are also reachable here, loaded on first use (the registry imports
this package, so importing it eagerly would be a cycle).
"""

from importlib import import_module

from .common import CustomResource
from .target import BACKENDS, GpuScheduling, RenderTarget

#: Registry names this package hands on (their home is ``fedspawner.jobs.kinds``).
_REGISTRY_NAMES = frozenset({"CRD_FOR_BACKEND", "CUSTOM_RESOURCES", "backends_for", "choose_backend", "render",
                             "supported_backends", "unsupported_reason"})

__all__ = ["BACKENDS", "CustomResource", "GpuScheduling", "RenderTarget", *sorted(_REGISTRY_NAMES)]


def __getattr__(name: str):
    if name in _REGISTRY_NAMES:
        return getattr(import_module("..kinds", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
