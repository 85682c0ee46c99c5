"""Renderers for the Kubeflow training operator (v1): PyTorchJob and TFJob.

Targets ``kubeflow.org/v1`` as served by training-operator v1.8 and v1.9
(the last releases before Kubeflow Trainer v2 replaced it).

``PyTorchJob``: one ``Master`` replica and ``nodes - 1`` ``Worker`` replicas,
each a pod whose container must be named ``pytorch``. The operator gives every
pod ``PET_NNODES``, ``PET_NODE_RANK``, ``PET_MASTER_ADDR``,
``PET_MASTER_PORT`` and (from ``nprocPerNode``) ``PET_NPROC_PER_NODE``, which
torchrun reads as defaults, so the command is just ``torchrun main.py``; the
master port is the container port named ``pytorchjob-port``.

``TFJob``: ``nodes`` ``Worker`` replicas in container ``tensorflow``; the
operator writes ``TF_CONFIG`` (worker 0 acts as chief for
``MultiWorkerMirroredStrategy``), and each runs ``python main.py``.

Both: ``restartPolicy: Never`` and ``backoffLimit: 0`` (a restarted replica
can't rejoin the running gang; the job fails fast), and
``cleanPodPolicy: None`` so finished pods stay for their logs until the
gateway deletes the job by label.
"""

from __future__ import annotations

from typing import Any

from .batch import TORCH_MASTER_PORT, procs_per_node, torchrun_args
from .common import (
    SCRIPT_DIR,
    Ctx,
    CustomResource,
    env,
    main_container,
    pod_spec,
    resources,
    script_configmap,
    volume_mounts,
)

PYTORCHJOB = CustomResource("kubeflow.org", "v1", "pytorchjobs", "PyTorchJob")
TFJOB = CustomResource("kubeflow.org", "v1", "tfjobs", "TFJob")
TF_PORT = 2222


def _run_policy(ctx: Ctx) -> dict[str, Any]:
    policy: dict[str, Any] = {"cleanPodPolicy": "None", "backoffLimit": 0}
    if ctx.spec.timeout:
        policy["activeDeadlineSeconds"] = ctx.spec.timeout
    return policy


def _container(ctx: Ctx, name: str, command: list[str], port: tuple[str, int]) -> dict[str, Any]:
    """The one container of every replica (the operator finds it by ``name`` and ``port``)."""
    return main_container(ctx, name, command, ports=[port], env=env(ctx), resources=resources(ctx, gpu=True),
                          mounts=volume_mounts(ctx, shm=True))


def _replica(ctx: Ctx, component: str, replicas: int, container: dict[str, Any]) -> dict[str, Any]:
    pod = pod_spec(ctx, containers=[container], gpu=True, shm=True)
    return {
        "replicas": replicas,
        "restartPolicy": "Never",
        "template": {"metadata": ctx.pod_metadata(component), "spec": pod},
    }


def render_pytorchjob(ctx: Ctx) -> list[dict[str, Any]]:
    """ConfigMap and PyTorchJob (Master + nodes-1 Workers) running torchrun."""
    container = _container(ctx, "pytorch", ["torchrun", *torchrun_args(ctx)], ("pytorchjob-port", TORCH_MASTER_PORT))
    replicas = {"Master": _replica(ctx, "master", 1, container)}
    if ctx.spec.nodes > 1:
        replicas["Worker"] = _replica(ctx, "worker", ctx.spec.nodes - 1, container)
    job = PYTORCHJOB.manifest(ctx.metadata(ctx.name), {
        "nprocPerNode": str(procs_per_node(ctx)),
        "runPolicy": _run_policy(ctx),
        "pytorchReplicaSpecs": replicas,
    })
    return [script_configmap(ctx), job]


def render_tfjob(ctx: Ctx) -> list[dict[str, Any]]:
    """ConfigMap and TFJob (``nodes`` Workers) running the script."""
    container = _container(ctx, "tensorflow", ["python", f"{SCRIPT_DIR}/{ctx.spec.script_filename}"],
                           ("tfjob-port", TF_PORT))
    job = TFJOB.manifest(ctx.metadata(ctx.name), {
        "runPolicy": _run_policy(ctx),
        "tfReplicaSpecs": {"Worker": _replica(ctx, "worker", ctx.spec.nodes, container)},
    })
    return [script_configmap(ctx), job]
