"""What a kind of job is, declared once (pure): the ``Kind`` and ``Backend`` descriptions.

A kind module (``jobs/kinds/<name>.py``) builds one ``Kind``: its options, its own checks,
its backends in order of preference with the pure renderer of each and the custom resource
that selects it, what it creates that the gateway must watch, how its pods map to role and
rank, how many pods to expect, the RBAC rows it needs and the words the UIs show. The rest of
the system (spec, option schema, gateway, ``join`` RBAC, OpenAPI document, widget, Lab) reads
these through the registry (``fedspawner.jobs.kinds``) and never tests a kind's name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ...federation.rbac import Permission
from ..checks import MIN_MEMORY_MIB, fail
from ..labels import LABEL_COMPONENT
from ..render.common import Ctx, CustomResource

__all__ = ["COMPLETION_INDEX", "KIND_OPTIONS", "Backend", "Kind", "Renderer", "pod_meta", "whole"]

Renderer = Callable[[Ctx], list[dict[str, Any]]]

#: Options that only some kinds take (every other option applies to every kind).
KIND_OPTIONS = ("nodes", "executors", "conf", "retries")
#: Where an Indexed Job pod carries its index (an annotation, and a label on newer clusters).
COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"


@dataclass(frozen=True)
class Backend:
    """One way to run a kind on a cluster.

    ``resource`` is the custom resource the renderer creates as the job's workload; the
    backend is used only where a cluster serves its CRD (None: core Kubernetes, any
    cluster). ``owned`` are custom resources its operator makes from that workload, which
    the gateway follows too (a TrainJob's JobSet); ``rbac`` the Role rows the hub's
    credential needs for both (``federation.rbac.HUB_PERMISSIONS`` grants them; a test pins it).
    ``creates_pods``: its leader pod creates the other pods itself (spark-submit's driver), so
    it runs under the service account the admin names for that (``c.Gateway.spark_service_account``).
    """

    name: str
    renderer: Renderer
    resource: CustomResource | None = None
    owned: tuple[CustomResource, ...] = ()
    rbac: tuple[Permission, ...] = ()
    creates_pods: bool = False

    @property
    def crd(self) -> str | None:
        """``<plural>.<group>`` of the CRD the backend needs (None: none)."""
        return self.resource.crd if self.resource else None


def pod_meta(pod: dict) -> tuple[dict[str, str], dict[str, str]]:
    """A pod's labels and annotations (empty when it has none)."""
    meta = pod.get("metadata") or {}
    return meta.get("labels") or {}, meta.get("annotations") or {}


def whole(value: Any, default: int = 0) -> int:
    """``value`` as an int (a label's text), or ``default`` when it isn't one."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


@dataclass(frozen=True)
class Kind:
    """A kind of job. A kind module subclasses it where behaviour differs (its own checks, pod
    counts, how pods map to roles and ranks).

    - ``options``: which of ``KIND_OPTIONS`` the kind takes (``nodes``: it scales with pods);
    - ``languages``: script languages it runs; ``min_memory_mib`` (and ``memory_why``) its
      memory floor per pod;
    - ``backends``: most preferred first; the last one should need no CRD;
    - ``leader``: how the UIs name the pod whose log shows progress (``rank 0``, ``driver``);
    - ``roles``: the roles its pods can have (the OpenAPI ``Pod.role`` enum).
    """

    name: str
    summary: str
    default_image: str
    backends: tuple[Backend, ...]
    options: tuple[str, ...] = ("nodes",)
    languages: tuple[str, ...] = ("python",)
    min_memory_mib: int = MIN_MEMORY_MIB
    memory_why: str = ""
    leader: str = "rank 0"
    roles: tuple[str, ...] = ("rank",)

    def __post_init__(self) -> None:
        unknown = set(self.options) - set(KIND_OPTIONS)
        assert not unknown, f"kind {self.name!r}: unknown options {sorted(unknown)} (see KIND_OPTIONS)"
        assert self.languages, f"kind {self.name!r} runs no script language"

    def backend(self, name: str) -> Backend | None:
        """The backend called ``name``, if the kind has it."""
        return next((b for b in self.backends if b.name == name), None)

    def check(self, values: dict[str, Any]) -> None:
        """Checks only this kind makes, on the spec's already checked ``values``; raise JobSpecError.

        The default refuses more than one node for a kind that doesn't scale with nodes."""
        if "nodes" not in self.options and values.get("nodes", 1) != 1:
            raise fail("nodes", f"A {self.name} job doesn't scale with nodes; leave nodes at 1.")

    def expected_pods(self, nodes: int, executors: int | None) -> int:
        """The pods a job of this kind runs when everything is up."""
        return nodes

    def gang_pods(self, nodes: int, executors: int | None, gpus: int) -> int:
        """The pods placement must fit at once (with ``gpus`` per pod, when ``gpus``)."""
        return self.expected_pods(nodes, executors)

    def role_and_rank(self, pod: dict) -> tuple[str, int]:
        """Which part of the job a pod is, and its rank (rank 0 is the leader)."""
        lab, ann = pod_meta(pod)
        return lab.get(LABEL_COMPONENT) or "rank", whole(ann.get(COMPLETION_INDEX, lab.get(COMPLETION_INDEX)))

    def view(self, nodes: int, executors: int | None) -> dict[str, Any]:
        """The fields the widget and the Lab show without knowing the kind."""
        return {"expected_pods": self.expected_pods(nodes, executors), "leader": self.leader}

    def rbac(self) -> tuple[Permission, ...]:
        """The Role rows the hub's credential needs for this kind's custom resources."""
        return tuple(row for backend in self.backends for row in backend.rbac)
