"""Renderer for an interactive Spark session on the Spark operator: a ``SparkConnect`` resource.

Targets ``sparkoperator.k8s.io/v1alpha1`` ``SparkConnect`` as served by spark-operator
**v2.5.2**. The operator makes from it, all owned by the resource (deleting it deletes them):

- the server pod ``<name>-server``: its ``server.template`` with the operator's command
  (``start-connect-server.sh`` with ``--master k8s://…`` in the foreground), listening for
  Spark Connect on port ``CONNECT_PORT``; in client mode it creates the executor pods itself,
  so it runs as ``RenderTarget.service_account`` (allowed to create pods);
- a ConfigMap ``<name>-conf`` holding ``executor.template`` (the executors' pod template);
- a Service ``<name>-server``.

The executors (``<name>-exec-<n>``) are made by the server and owned by its pod. Everything
fedspawner adds to the pods goes through the two templates: the session's labels and owner
annotation, environment, CPU and memory, GPU limits and node affinity (executors only), the
preference for non-GPU nodes (the server; executors without GPUs), security contexts.

Sizing: like ``spark_operator`` (heap 60% of the pod's memory, the rest overhead; cores the
CPU rounded down with ``request.cores`` the exact quantity), so every pod asks for exactly the
spec's CPU and memory. Labels are relabelled as a session's by the caller
(``spark_connect.as_session``), as for fedspawner's own Connect server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..checks import spark_cores
from ..validation import mebibytes
from .common import Ctx, CustomResource, container_security, env, gpu_limits, pod_security, scheduling
from .spark_common import SPARK_UI_PORT, heap_mib, spark_version
from .spark_connect import as_session
from .spark_operator import DRIVER_CONTAINER, EXECUTOR_CONTAINER
from .target import RenderTarget

if TYPE_CHECKING:  # renderers never import the spec module at run time (it imports the kinds)
    from ..spec import JobSpec

#: The Spark settings this renderer sets itself (not the user's: outside the conf allow-list).
OWN_CONF = frozenset({"spark.ui.port", "spark.executor.memoryOverhead", "spark.kubernetes.executor.request.cores",
                      "spark.kubernetes.executor.useDriverPodIP"})
SPARKCONNECT = CustomResource("sparkoperator.k8s.io", "v1alpha1", "sparkconnects", "SparkConnect")
#: The server's container: the one the operator fills in (its driver's name, as in a SparkApplication).
SERVER_CONTAINER = DRIVER_CONTAINER
#: The session backend of a SparkConnect (``fedspawner.dev/backend`` on its objects).
CONNECT_BACKEND = "sparkconnect"
#: The operator's label naming the SparkConnect on everything it and the server make.
LABEL_CONNECT_NAME = "sparkoperator.k8s.io/connect-name"


def server_pod_name(name: str) -> str:
    """The Connect server's pod, as the operator names it (the session's tunnel target)."""
    return f"{name}-server"


def _container(ctx: Ctx, name: str, resources: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = {"name": name, "image": ctx.spec.image, "imagePullPolicy": "IfNotPresent",
                                 "env": env(ctx), "securityContext": container_security()}
    if resources:
        container["resources"] = resources
    return container


def _server_template(ctx: Ctx, annotations: dict[str, str]) -> dict[str, Any]:
    memory = f"{mebibytes(ctx.spec.memory)}Mi"
    resources = {"requests": {"cpu": ctx.spec.cpu, "memory": memory}, "limits": {"memory": memory}}
    # Never restarted: a restarted Connect server has lost every session state a client holds, so the
    # session is over and says so (it is stopped and started anew, %fedspark start --restart).
    spec: dict[str, Any] = {"securityContext": pod_security(), "restartPolicy": "Never",
                            "containers": [_container(ctx, SERVER_CONTAINER, resources)]}
    if ctx.target.service_account:
        spec["serviceAccountName"] = ctx.target.service_account
    spec.update(scheduling(ctx, gpu=False))
    return {"metadata": ctx.pod_metadata("driver", annotations), "spec": spec}


def _executor_template(ctx: Ctx) -> dict[str, Any]:
    limits = gpu_limits(ctx)
    resources = {"limits": limits, "requests": dict(limits)} if limits else {}
    spec: dict[str, Any] = {"securityContext": pod_security(), "automountServiceAccountToken": False,
                            "containers": [_container(ctx, EXECUTOR_CONTAINER, resources)]}
    spec.update(scheduling(ctx, gpu=True))
    return {"metadata": ctx.pod_metadata("executor"), "spec": spec}


def render_spark_connect_cr(spec: JobSpec, target: RenderTarget,
                            record: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """The ``SparkConnect`` resource of a session (one object).

    ``spec`` is a Spark spec (``executors``, ``cpu`` and ``memory`` per pod, ``gpus`` per
    executor, ``conf``, ``image``); ``target.job_id`` is the session id; ``record`` are
    annotations for the resource (the session's anchor) and the server pod.
    """
    ctx = Ctx(spec, target)
    heap = heap_mib(spec.memory)
    # fedspawner's own settings come last, so no setting a user gives can replace them (the conf
    # allow-list already refuses these keys; the gateway's manifest check looks again: OWN_CONF).
    conf = {
        **spec.conf,
        "spark.ui.port": str(SPARK_UI_PORT),
        "spark.executor.memoryOverhead": f"{mebibytes(spec.memory) - heap}m",
        "spark.kubernetes.executor.request.cores": spec.cpu,
        # The operator binds the server to 0.0.0.0; Spark 4 would hand executors that bind address as
        # the driver's (useDriverPodIP) instead of spark.driver.host, the pod's IP the operator sets.
        "spark.kubernetes.executor.useDriverPodIP": "false",
    }
    body = {
        "sparkVersion": spark_version(spec.image),
        "image": spec.image,
        "sparkConf": conf,
        "server": {"cores": spark_cores(spec.cpu), "memory": f"{heap}m",
                   "template": _server_template(ctx, dict(record or {}))},
        "executor": {"instances": spec.executors or 1, "cores": spark_cores(spec.cpu), "memory": f"{heap}m",
                     "template": _executor_template(ctx)},
    }
    return as_session([SPARKCONNECT.manifest(ctx.metadata(ctx.name, annotations=record), body)], target.job_id,
                      CONNECT_BACKEND)
