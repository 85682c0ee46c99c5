"""Render a ``JobSpec`` into the Kubernetes manifests one member cluster runs.

``render(spec, target)`` is a pure function: plain dicts, in the order to
create them (the script ConfigMap first, the workload last), with no client,
no I/O and no randomness. Which backend to render for is the caller's choice,
normally the first of ``backends_for(kind, crds)`` for the CRDs that API
discovery found on the chosen cluster.

===========  =================  ==============================================
kind         backend            renders
===========  =================  ==============================================
pytorch      trainjob           TrainJob on ``torch-distributed`` (Trainer v2)
pytorch      pytorchjob         PyTorchJob (training operator v1)
pytorch      indexed-job        headless Service + Indexed Job with torchrun
spark        sparkapplication   SparkApplication (Spark operator)
spark        spark-standalone   per-job standalone cluster from two Jobs
job          indexed-job        Indexed Job running python/bash
tensorflow   tfjob              TFJob (training operator v1)
===========  =================  ==============================================

"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ..errors import JobSpecError
from ..spec import KINDS, JobSpec
from .batch import render_plain, render_pytorch
from .common import Ctx, CustomResource
from .kubeflow import PYTORCHJOB, TFJOB, render_pytorchjob, render_tfjob
from .spark_operator import SPARKAPPLICATION, render_sparkapplication
from .spark_standalone import render_spark_standalone
from .target import BACKENDS, GpuScheduling, RenderTarget
from .trainer import TRAINJOB, render_trainjob

__all__ = [
    "BACKENDS",
    "CRD_FOR_BACKEND",
    "CUSTOM_RESOURCES",
    "CustomResource",
    "GpuScheduling",
    "RenderTarget",
    "backends_for",
    "choose_backend",
    "render",
    "supported_backends",
    "unsupported_reason",
]

Renderer = Callable[[Ctx], list[dict[str, Any]]]

#: The custom resource each operator backend renders; portable backends need none.
CUSTOM_RESOURCES: dict[str, CustomResource] = {
    "trainjob": TRAINJOB,
    "pytorchjob": PYTORCHJOB,
    "tfjob": TFJOB,
    "sparkapplication": SPARKAPPLICATION,
}
#: The CRD (``<plural>.<group>``) a backend needs; portable backends need none.
CRD_FOR_BACKEND = {backend: resource.crd for backend, resource in CUSTOM_RESOURCES.items()}

#: Backends per kind, most preferred first; portable backends come last.
_RENDERERS: dict[str, dict[str, Renderer]] = {
    "pytorch": {"trainjob": render_trainjob, "pytorchjob": render_pytorchjob, "indexed-job": render_pytorch},
    "spark": {"sparkapplication": render_sparkapplication, "spark-standalone": render_spark_standalone},
    "job": {"indexed-job": render_plain},
    "tensorflow": {"tfjob": render_tfjob},
}

_NEEDS = {
    "tensorflow": f"the Kubeflow training operator (the TFJob CRD, {TFJOB.crd})",
}


def supported_backends(kind: str) -> list[str]:
    """Every backend that can run ``kind``, most preferred first."""
    if kind not in _RENDERERS:
        raise JobSpecError(f"Unknown kind of job {kind!r}; use one of: {', '.join(KINDS)}.", field="kind")
    return list(_RENDERERS[kind])


def backends_for(kind: str, available_crds: Iterable[str]) -> list[str]:
    """The backends that can run ``kind`` on a cluster with these CRDs, best first.

    ``available_crds`` are CRD names as ``<plural>.<group>`` (e.g.
    ``trainjobs.trainer.kubeflow.org``) from API discovery. Operator backends
    come first in the order Trainer v2, training operator; the portable
    backend (which needs no CRD) is always last. An empty list means the
    cluster can't run the kind at all (``unsupported_reason`` says why).
    """
    crds = set(available_crds)
    return [backend for backend in supported_backends(kind)
            if CRD_FOR_BACKEND.get(backend) is None or CRD_FOR_BACKEND[backend] in crds]


def unsupported_reason(kind: str) -> str:
    """Why ``kind`` can't run on a cluster that has none of its operators, and what to do instead."""
    instead = "use kind 'pytorch' for distributed training that runs on any cluster, or 'job' for a plain script"
    if not supported_backends(kind):  # no renderer at all, whatever the cluster has
        return f"Kind {kind!r} needs {_NEEDS.get(kind, 'an operator')}. Instead, {instead}."
    return (f"Kind {kind!r} needs {_NEEDS.get(kind, 'an operator')} on the cluster that runs it. Send it to "
            f"a cluster that has it, or {instead}.")


def choose_backend(kind: str, available_crds: Iterable[str]) -> str:
    """The preferred backend for ``kind`` on a cluster, or JobSpecError saying what it lacks."""
    choices = backends_for(kind, available_crds)
    if not choices:
        raise JobSpecError(unsupported_reason(kind), field="kind")
    return choices[0]


def render(spec: JobSpec, target: RenderTarget) -> list[dict[str, Any]]:
    """The manifests that run ``spec`` on ``target``, in creation order.

    Raises JobSpecError when the kind can't run on the target's backend, when
    the script and its files don't fit a ConfigMap, or when the spec asks for
    GPUs and the target has no GPU scheduling.
    """
    renderers = _RENDERERS[spec.kind]
    renderer = renderers.get(target.backend)
    if renderer is None:
        if not renderers:
            raise JobSpecError(unsupported_reason(spec.kind), field="kind")
        raise JobSpecError(
            f"A {spec.kind} job can't run on the {target.backend!r} backend; it runs on: "
            f"{', '.join(renderers)}.", field="kind")
    return renderer(Ctx(spec, target))
