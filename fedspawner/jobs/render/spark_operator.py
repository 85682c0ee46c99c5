"""Renderer for the Kubeflow Spark operator: a ``SparkApplication``.

Targets ``sparkoperator.k8s.io/v1beta2`` as served by spark-operator
**v2.5.2** (and any v2.1+; the driver and executor pod ``template`` fields
appeared in v2.1).

A ``type: Python`` application in ``cluster`` mode whose main file is
``local:///fedspawner/script/main.py``. The operator runs spark-submit, which
creates the driver pod; the driver creates ``executors`` executor pods.

Everything fedspawner adds to those pods goes through the driver and executor
pod **templates**, which the operator hands to spark-submit as pod template
files: the script ConfigMap volume and mount, the package init container and
emptyDir, environment, GPU limits (executors only), affinity and
tolerations, security contexts. The older route (``spec.volumes`` plus
``driver.volumeMounts``) needs the operator's mutating webhook, and when a
template is present the operator doesn't ask the webhook to touch the pods,
so templates work with or without it. The job's labels and owner annotation
go to the driver and executors (``labels``/``annotations``, which become
``spark.kubernetes.*.label.*``), and to the template metadata as well, and to
the UI Service the operator creates (``sparkUIOptions.serviceLabels``).

Sizing: ``cores`` is the spec's CPU rounded down (at least 1), with
``coreRequest`` the exact quantity; the JVM heap (``memory``) is 60% of the
pod's memory and ``memoryOverhead`` the rest, so the pod asks for exactly
the spec's memory.

The driver needs a service account allowed to create pods (e.g. the one the
operator's chart creates for job namespaces); pass it as
``RenderTarget.service_account``. Executor pods stay after the application
finishes (``deleteOnTermination: false``) so their logs can still be read;
deleting the SparkApplication removes them.
"""

from __future__ import annotations

from typing import Any

from ..checks import spark_cores
from ..labels import ANNOTATION_SPARK_UI_PORT, ANNOTATION_SPARK_UI_SERVICE
from ..validation import mebibytes
from .common import (
    SCRIPT_DIR,
    Ctx,
    CustomResource,
    container_security,
    env,
    gpu_limits,
    pip_init_container,
    pod_security,
    scheduling,
    script_configmap,
    volume_mounts,
    volumes,
)
from .spark_common import SPARK_UI_PORT, heap_mib, spark_version

SPARKAPPLICATION = CustomResource("sparkoperator.k8s.io", "v1beta2", "sparkapplications", "SparkApplication")
DRIVER_CONTAINER = "spark-kubernetes-driver"
EXECUTOR_CONTAINER = "spark-kubernetes-executor"


def _template(ctx: Ctx, component: str, container: str, *, gpu: bool) -> dict[str, Any]:
    main: dict[str, Any] = {
        "name": container,
        "env": env(ctx),
        "volumeMounts": volume_mounts(ctx),
        "securityContext": container_security(),
    }
    limits = gpu_limits(ctx) if gpu else {}
    if limits:
        main["resources"] = {"limits": limits}
    spec: dict[str, Any] = {"securityContext": pod_security()}
    init = pip_init_container(ctx)
    if init:
        spec["initContainers"] = init
    spec["containers"] = [main]
    spec["volumes"] = volumes(ctx)
    if component == "executor":
        spec["automountServiceAccountToken"] = False
    spec.update(scheduling(ctx, gpu=gpu))
    return {"metadata": {**ctx.pod_metadata(component), "labels": _labels(ctx, component)}, "spec": spec}


def _labels(ctx: Ctx, component: str | None = None) -> dict[str, str]:
    """The job's labels plus the recommended ``app.kubernetes.io`` ones, so a cluster's own tools
    (and the Spark operator's, which add ``sparkoperator.k8s.io/*``) group the application's parts."""
    labels = {**ctx.labels(component), "app.kubernetes.io/name": "spark", "app.kubernetes.io/instance": ctx.name}
    if component:
        labels["app.kubernetes.io/component"] = component
    return labels


def _sizing(ctx: Ctx) -> dict[str, Any]:
    heap = heap_mib(ctx.spec.memory)
    return {
        "cores": spark_cores(ctx.spec.cpu),
        "coreRequest": ctx.spec.cpu,
        "memory": f"{heap}m",
        "memoryOverhead": f"{mebibytes(ctx.spec.memory) - heap}m",
    }


def render_sparkapplication(ctx: Ctx) -> list[dict[str, Any]]:
    """ConfigMap and SparkApplication."""
    ui_service = f"{ctx.name}-ui-svc"
    ui = {ANNOTATION_SPARK_UI_SERVICE: ui_service, ANNOTATION_SPARK_UI_PORT: str(SPARK_UI_PORT)}
    driver: dict[str, Any] = {
        **_sizing(ctx),
        "labels": _labels(ctx, "driver"),
        "annotations": ctx.annotations(ui),
        "template": _template(ctx, "driver", DRIVER_CONTAINER, gpu=False),
    }
    if ctx.target.service_account:
        driver["serviceAccount"] = ctx.target.service_account
    executor: dict[str, Any] = {
        **_sizing(ctx),
        "instances": ctx.spec.executors,
        "deleteOnTermination": False,
        "labels": _labels(ctx, "executor"),
        "annotations": ctx.annotations(),
        "template": _template(ctx, "executor", EXECUTOR_CONTAINER, gpu=True),
    }
    if ctx.spec.timeout:
        for part in (driver, executor):
            part["template"]["spec"]["activeDeadlineSeconds"] = ctx.spec.timeout
    app = SPARKAPPLICATION.manifest({**ctx.metadata(ctx.name, annotations=ui), "labels": _labels(ctx)}, {
        "type": "Python",
        "pythonVersion": "3",
        "mode": "cluster",
        "image": ctx.spec.image,
        "imagePullPolicy": "IfNotPresent",
        "mainApplicationFile": f"local://{SCRIPT_DIR}/{ctx.spec.script_filename}",
        "sparkVersion": spark_version(ctx.spec.image),
        "sparkConf": {"spark.ui.port": str(SPARK_UI_PORT), **ctx.spec.conf},
        "restartPolicy": {"type": "Never"},
        "sparkUIOptions": {"serviceLabels": _labels(ctx, "ui"), "serviceAnnotations": ctx.annotations()},
        "driver": driver,
        "executor": executor,
    })
    return [script_configmap(ctx), app]
