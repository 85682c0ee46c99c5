"""The ways a Spark session can run on a cluster, chosen the way a kind chooses its backends.

Best first: the Spark operator's ``SparkConnect`` where the cluster serves its resource
(``spark_connect_cr``), else fedspawner's own Connect server on a per-session standalone
cluster (``spark_connect``), which runs on any cluster. Each backend names its anchor object
(the one that holds the session's record and is deleted last), its server pod and what else
it leaves for a stop to delete.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ...federation.rbac import MANAGE, Permission
from .common import CustomResource
from .spark_connect import STANDALONE_BACKEND, driver_pod_name, render_spark_connect
from .spark_connect_cr import CONNECT_BACKEND, SPARKCONNECT, render_spark_connect_cr, server_pod_name


@dataclass(frozen=True)
class SessionBackend:
    """One way to run a session: its renderer ``(spec, target, record) -> manifests``, the custom
    resource it needs (None: any cluster), and how its server pod is named."""

    name: str
    render: Callable[..., list[dict[str, Any]]]
    server_pod: Callable[[str], str]
    resource: CustomResource | None = None
    #: Whether its server pod creates pods itself (it then runs as the Spark service account).
    creates_pods: bool = False
    #: The Role rows the hub's credential needs for it (``federation.rbac.HUB_PERMISSIONS`` has them).
    rbac: tuple[Permission, ...] = ()

    @property
    def crd(self) -> str | None:
        """``<plural>.<group>`` of the CRD the backend needs (None: none)."""
        return self.resource.crd if self.resource else None


SESSION_BACKENDS: tuple[SessionBackend, ...] = (
    SessionBackend(CONNECT_BACKEND, render_spark_connect_cr, server_pod_name, SPARKCONNECT, creates_pods=True,
                   rbac=(Permission(SPARKCONNECT.group, SPARKCONNECT.plural, MANAGE, "gateway",
                                    "Spark sessions cannot use the Spark operator's SparkConnect (fedspawner's own "
                                    "Connect servers still run)", required=False),)),
    SessionBackend(STANDALONE_BACKEND, render_spark_connect, driver_pod_name),
)
BY_NAME = {b.name: b for b in SESSION_BACKENDS}


def session_backend(available_crds: Iterable[str]) -> SessionBackend:
    """The preferred session backend on a cluster that serves ``available_crds``."""
    crds = set(available_crds)
    return next(b for b in SESSION_BACKENDS if b.crd is None or b.crd in crds)


def session_rbac_rows() -> tuple[Permission, ...]:
    """The Role rows every session backend needs."""
    return tuple(row for b in SESSION_BACKENDS for row in b.rbac)
