"""Where and how a job is rendered: the member cluster's side of the inputs.

The gateway builds a ``RenderTarget`` for the cluster and namespace placement
chose: the backend (from API discovery, see ``backends_for``), the GPU
scheduling facts of that cluster (from the federation core's inventory) and
the job's identity (job id and owner). Mistakes here are the caller's, not the
user's, so they raise plain ``ValueError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from types import MappingProxyType

from ...federation.model import GpuScheduling  # one description for spawner and renderers
from ..labels import LABEL_MANAGED_BY, RESERVED_LABEL_PREFIX
from ..validation import (
    is_dns1123_label,
    is_dns1123_subdomain,
    is_label_key,
    is_label_value,
)

__all__ = ["BACKENDS", "GpuScheduling", "RenderTarget", "RuntimeRef"]

#: Every backend a job can be rendered for.
#:
#: - ``indexed-job``: an Indexed ``batch/v1`` Job (+ headless Service); any cluster.
#: - ``trainjob``: Kubeflow Trainer v2 ``TrainJob``.
#: - ``sparkapplication``: Kubeflow Spark operator ``SparkApplication``.
#: - ``spark-standalone``: a per-job Spark standalone cluster from Jobs; any cluster.
BACKENDS = ("indexed-job", "trainjob", "sparkapplication", "spark-standalone")


#: The kinds of Kubeflow Trainer runtime a TrainJob may reference.
RUNTIME_KINDS = ("ClusterTrainingRuntime", "TrainingRuntime")


@dataclass(frozen=True)
class RuntimeRef:
    """The Kubeflow Trainer runtime a TrainJob runs on: its kind and name."""

    kind: str
    name: str

    def __post_init__(self) -> None:
        if self.kind not in RUNTIME_KINDS:
            raise ValueError(f"RuntimeRef.kind must be one of {', '.join(RUNTIME_KINDS)}, not {self.kind!r}")
        if not is_dns1123_subdomain(self.name):
            raise ValueError(f"RuntimeRef.name must be a DNS-1123 subdomain, not {self.name!r}")


@dataclass(frozen=True)
class RenderTarget:
    """The cluster-side inputs of ``render``.

    - ``namespace``: the member-cluster namespace the job runs in.
    - ``job_id``: the job's unique id, a valid label value (the gateway's id,
      which may equal the spec's name); it goes into labels and environment.
    - ``owner``: the exact JupyterHub user name; labels carry a label-safe
      form, the ``fedspawner.dev/owner-name`` annotation the exact name.
    - ``backend``: one of ``BACKENDS``.
    - ``gpu``: the cluster's GPU scheduling, or None on a CPU-only target.
    - ``extra_labels``: more labels for every object and pod (e.g. a Kueue
      queue name); they may not use the ``fedspawner.dev/`` prefix.
    - ``service_account``: the pods' service account (for ``sparkapplication``
      the driver's, which must be allowed to create executor pods).
    - ``gpu_type``: the canonical GPU type placement chose (e.g.
      ``nvidia-a100-40gb``), or None; GPU jobs' objects and pods then carry it
      as the ``fedspawner.dev/gpu-type`` label, by which the federation's
      inventory counts the GPUs the job holds.
    - ``runtime``: the Trainer runtime a ``trainjob`` references (None: the cluster's
      ``torch-distributed`` ClusterTrainingRuntime).
    - ``avoid_gpu_nodes``: a preferred node-affinity term (``PreferredSchedulingTerm``)
      that keeps the job's CPU-only pods off the cluster's GPU nodes, or None.
    """

    namespace: str
    job_id: str
    owner: str
    backend: str
    gpu: GpuScheduling | None = None
    extra_labels: Mapping[str, str] = field(default_factory=dict)
    service_account: str | None = None
    gpu_type: str | None = None
    avoid_gpu_nodes: Mapping[str, Any] | None = None
    runtime: RuntimeRef | None = None

    def __post_init__(self) -> None:
        if not is_dns1123_label(self.namespace):
            raise ValueError(f"RenderTarget.namespace must be a DNS-1123 label, not {self.namespace!r}")
        if not self.job_id or not is_label_value(self.job_id):
            raise ValueError(f"RenderTarget.job_id must be a non-empty label value (63 characters of "
                             f"letters, digits, '-', '_', '.'), not {self.job_id!r}")
        if not isinstance(self.owner, str) or not self.owner:
            raise ValueError("RenderTarget.owner must be the JupyterHub user name")
        if self.backend not in BACKENDS:
            raise ValueError(f"RenderTarget.backend must be one of {', '.join(BACKENDS)}, "
                             f"not {self.backend!r}")
        if self.gpu is not None and not isinstance(self.gpu, GpuScheduling):
            raise ValueError("RenderTarget.gpu must be a GpuScheduling or None")
        labels = dict(self.extra_labels)
        for key, value in labels.items():
            if not is_label_key(key) or not isinstance(value, str) or not is_label_value(value):
                raise ValueError(f"RenderTarget.extra_labels has an invalid label {key!r}: {value!r}")
            if key.startswith(RESERVED_LABEL_PREFIX) or key == LABEL_MANAGED_BY:
                raise ValueError(f"RenderTarget.extra_labels may not set {key!r}: fedspawner sets it")
        object.__setattr__(self, "extra_labels", MappingProxyType(labels))
        if self.gpu_type is not None and (not self.gpu_type or not is_label_value(self.gpu_type)):
            raise ValueError(f"RenderTarget.gpu_type must be a canonical GPU type name, "
                             f"not {self.gpu_type!r}")
        if self.avoid_gpu_nodes is not None and not (isinstance(self.avoid_gpu_nodes, Mapping)
                                                     and "preference" in self.avoid_gpu_nodes):
            raise ValueError("RenderTarget.avoid_gpu_nodes must be a PreferredSchedulingTerm mapping or None")
        if self.runtime is not None and not isinstance(self.runtime, RuntimeRef):
            raise ValueError("RenderTarget.runtime must be a RuntimeRef or None")
        if self.service_account is not None and not is_dns1123_subdomain(self.service_account):
            raise ValueError(f"RenderTarget.service_account must be a DNS-1123 subdomain, not "
                             f"{self.service_account!r}")
