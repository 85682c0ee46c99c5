"""Jobs sent from notebook cells: a validated ``JobSpec`` and pure renderers that
turn it into the manifests a member cluster runs."""

# ``render`` itself is imported from ``fedspawner.jobs.render`` (re-exporting
# the function here would shadow the subpackage of the same name).
from .errors import JobSpecError
from .render import BACKENDS, GpuScheduling, RenderTarget, backends_for, choose_backend
from .spec import KINDS, GpuRequest, JobSpec, generate_name

__all__ = [
    "BACKENDS",
    "KINDS",
    "GpuRequest",
    "GpuScheduling",
    "JobSpec",
    "JobSpecError",
    "RenderTarget",
    "backends_for",
    "choose_backend",
    "generate_name",
]
