"""The registry of job kinds: one module per kind, and what the rest of the system reads from them.

Every kind lives in its own module here (``pytorch``, ``spark``, ``job``, ...) as a
``base.Kind``; ``KINDS`` lists them in the order users see them. The job spec checks against
them, the option schema takes each option's kinds from them, the gateway renders, watches,
names pods, counts ranks and places gangs through them, the OpenAPI document's enums and the
hub's RBAC rows are pinned to them by a test, and the widget and the Lab show the view fields
they give (``expected_pods``, ``leader``). Adding a kind is adding a module and its name below.

``render(spec, target)`` is a pure function: plain dicts, in the order to create them (the
script ConfigMap first, the workload last), with no client, no I/O and no randomness. Which
backend to render for is the caller's choice, normally the first of ``backends_for(kind,
crds)`` for the CRDs that API discovery found on the chosen cluster.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from ...federation.rbac import Permission
from ..errors import JobSpecError
from ..render.common import Ctx, CustomResource
from ..render.target import RenderTarget
from . import jax, job, pytorch, spark
from .base import KIND_OPTIONS, Backend, Kind

if TYPE_CHECKING:
    from ..spec import JobSpec

__all__ = [
    "ANY_KIND",
    "BACKENDS",
    "CRD_FOR_BACKEND",
    "CUSTOM_RESOURCES",
    "KINDS",
    "REMOVED_KINDS",
    "Backend",
    "Kind",
    "backends_for",
    "choose_backend",
    "get",
    "kinds_with",
    "lookup",
    "owned_resources",
    "pod_roles",
    "rbac_rows",
    "render",
    "supported_backends",
    "unsupported_reason",
    "workload_resources",
]

#: Every kind, by name, in the order users see them.
REGISTRY: Mapping[str, Kind] = MappingProxyType({k.name: k for k in (pytorch.KIND, spark.KIND, job.KIND, jax.KIND)})
#: The names of every kind.
KINDS: tuple[str, ...] = tuple(REGISTRY)
#: Kinds users ask for that fedspawner does not (or no longer) run, and what to do instead.
REMOVED_KINDS: Mapping[str, str] = MappingProxyType({
    "mpi": ("MPI jobs are not supported: an MPIJob needs the MPI operator and an image built for it, which "
            "fedspawner can't provide. Run distributed training as kind 'pytorch' (torchrun over several "
            "nodes), or a plain script as kind 'job'."),
    "tensorflow": ("Kind 'tensorflow' was removed: it ran only as a TFJob of the Kubeflow Training Operator v1, "
                   "which is in maintenance mode and which fedspawner no longer supports. Run TensorFlow as "
                   "kind 'job' with a TensorFlow image and --nodes N (every pod gets its index as "
                   "FEDSPAWNER_RANK; build TF_CONFIG from it), or train with kind 'pytorch'."),
})
#: A kind with the defaults, for objects whose kind is unknown (made by an older fedspawner).
ANY_KIND = Kind(name="", summary="", default_image="", backends=())

#: Every backend name, in order of first use.
BACKENDS: tuple[str, ...] = tuple(dict.fromkeys(b.name for k in REGISTRY.values() for b in k.backends))
#: The custom resource each operator backend renders; portable backends need none.
CUSTOM_RESOURCES: Mapping[str, CustomResource] = MappingProxyType({
    b.name: b.resource for k in REGISTRY.values() for b in k.backends if b.resource is not None})
#: The CRD (``<plural>.<group>``) a backend needs; portable backends need none.
CRD_FOR_BACKEND: Mapping[str, str] = MappingProxyType(
    {name: resource.crd for name, resource in CUSTOM_RESOURCES.items()})


def get(name: str) -> Kind:
    """The kind called ``name``; JobSpecError (saying what to use) for any other name."""
    if name in REMOVED_KINDS:
        raise JobSpecError(REMOVED_KINDS[name], field="kind")
    if name not in REGISTRY:
        raise JobSpecError(f"Unknown kind of job {name!r}; use one of: {', '.join(KINDS)}.", field="kind")
    return REGISTRY[name]


def lookup(name: str | None) -> Kind:
    """The kind called ``name``, or ``ANY_KIND`` for objects of an unknown kind (never raises)."""
    return REGISTRY.get(name or "", ANY_KIND)


def kinds_with(option: str) -> tuple[str, ...]:
    """The kinds a kind-specific option (one of ``KIND_OPTIONS``) applies to."""
    assert option in KIND_OPTIONS, option
    return tuple(name for name, k in REGISTRY.items() if option in k.options)


def workload_resources() -> tuple[CustomResource, ...]:
    """Every custom resource that is a job's workload (one per operator backend)."""
    return tuple(CUSTOM_RESOURCES.values())


def owned_resources() -> tuple[CustomResource, ...]:
    """Custom resources operators make from a workload, which the gateway follows too."""
    return tuple(dict.fromkeys(r for k in REGISTRY.values() for b in k.backends for r in b.owned))


def pod_roles() -> tuple[str, ...]:
    """Every role a pod of some kind can have."""
    return tuple(dict.fromkeys(role for k in REGISTRY.values() for role in k.roles))


def rbac_rows() -> tuple[Permission, ...]:
    """The Role rows every kind's backends need (``federation.rbac.HUB_PERMISSIONS`` has them)."""
    return tuple(dict.fromkeys(row for k in REGISTRY.values() for row in k.rbac()))


def supported_backends(kind: str) -> list[str]:
    """Every backend that can run ``kind``, most preferred first."""
    return [b.name for b in get(kind).backends]


def backends_for(kind: str, available_crds: Iterable[str]) -> list[str]:
    """The backends that can run ``kind`` on a cluster with these CRDs, best first.

    ``available_crds`` are CRD names as ``<plural>.<group>`` (e.g.
    ``trainjobs.trainer.kubeflow.org``) from API discovery. A backend that needs no CRD can
    always run; an empty list means the cluster can't run the kind (``unsupported_reason``).
    """
    crds = set(available_crds)
    return [b.name for b in get(kind).backends if b.crd is None or b.crd in crds]


def unsupported_reason(kind: str) -> str:
    """Why ``kind`` can't run on a cluster that has none of its operators, and what to do instead."""
    needs = " or ".join(f"the {b.resource.kind} CRD ({b.crd})" for b in get(kind).backends if b.resource) \
        or "an operator"
    portable = [name for name, k in REGISTRY.items() if any(b.resource is None for b in k.backends)]
    return (f"Kind {kind!r} needs {needs} on the cluster that runs it. Send it to a cluster that has it, "
            f"or use a kind that runs on any cluster: {', '.join(portable)}.")


def choose_backend(kind: str, available_crds: Iterable[str]) -> str:
    """The preferred backend for ``kind`` on a cluster, or JobSpecError saying what it lacks."""
    choices = backends_for(kind, available_crds)
    if not choices:
        raise JobSpecError(unsupported_reason(kind), field="kind")
    return choices[0]


def render(spec: JobSpec, target: RenderTarget) -> list[dict[str, Any]]:
    """The manifests that run ``spec`` on ``target``, in creation order.

    Raises JobSpecError when the kind can't run on the target's backend, when the script and
    its files don't fit a ConfigMap, or when the spec asks for GPUs and the target has no GPU
    scheduling.
    """
    kind = get(spec.kind)
    backend = kind.backend(target.backend)
    if backend is None:
        raise JobSpecError(
            f"A {spec.kind} job can't run on the {target.backend!r} backend; it runs on: "
            f"{', '.join(b.name for b in kind.backends)}.", field="kind")
    return backend.renderer(Ctx(spec, target))
