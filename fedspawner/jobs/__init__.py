"""Jobs sent from notebook cells: a validated ``JobSpec`` and pure renderers that
turn it into the manifests a member cluster runs.

The names below are imported on first use, so that ``fedspawner.jobs.vocabulary``
(what a kernel needs) costs nothing more.
"""

from importlib import import_module

# ``render`` itself is imported from ``fedspawner.jobs.render`` (re-exporting
# the function here would shadow the subpackage of the same name).
_HOMES = {
    "JobSpecError": ".errors",
    "BACKENDS": ".render", "GpuScheduling": ".render", "RenderTarget": ".render", "backends_for": ".kinds",
    "choose_backend": ".kinds",
    "KINDS": ".spec", "GpuRequest": ".spec", "JobSpec": ".spec", "generate_name": ".spec",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name in _HOMES:
        return getattr(import_module(_HOMES[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
