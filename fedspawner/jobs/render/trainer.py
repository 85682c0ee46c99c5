"""Renderer for Kubeflow Trainer v2: a ``TrainJob`` on ``torch-distributed``.

Targets Kubeflow Trainer **v2.3.0** (API ``trainer.kubeflow.org/v1alpha1``),
whose TrainJob customises the runtime's pods through ``spec.runtimePatches``
(Trainer v2.2 introduced it; v2.0 had ``podSpecOverrides`` and v2.1
``podTemplateOverrides`` in its place, so this renderer needs v2.2 or later).

The TrainJob references the ``torch-distributed`` ClusterTrainingRuntime,
whose one replicated job is ``node`` with a container ``node``:

- ``spec.trainer`` sets the image, ``numNodes``, ``numProcPerNode`` (GPUs
  per node, or 1 on CPU), ``resourcesPerNode``, the environment (env for the
  ``node`` container may only be set here) and the command. The Trainer's
  torch plugin injects ``PET_NNODES``, ``PET_NPROC_PER_NODE``,
  ``PET_NODE_RANK``, ``PET_MASTER_ADDR`` and ``PET_MASTER_PORT``, which
  torchrun reads, so the command is ``torchrun main.py``. Runtime patches can
  only patch init containers the runtime already has, so with packages the
  command installs them first through the same fixed command the other
  backends run in an init container, then execs torchrun.
- One runtime patch (manager ``fedspawner.dev/renderer``) adds the job's
  labels and owner annotation to the JobSet, the ``node`` Job and its pods,
  mounts the script ConfigMap (and the package and shared-memory emptyDirs)
  into ``node``, and sets GPU affinity, tolerations and the service account.
"""

from __future__ import annotations

from typing import Any

from .batch import procs_per_node, torchrun_args
from .common import (
    PIP_INSTALL,
    Ctx,
    CustomResource,
    container_security,
    env,
    pod_security,
    resources,
    scheduling,
    script_configmap,
    volume_mounts,
    volumes,
)

TRAINJOB = CustomResource("trainer.kubeflow.org", "v1alpha1", "trainjobs", "TrainJob")
TORCH_RUNTIME = "torch-distributed"
#: The runtime's replicated job and container that run the trainer.
TRAINER_NODE = "node"
PATCH_MANAGER = "fedspawner.dev/renderer"


def render_trainjob(ctx: Ctx) -> list[dict[str, Any]]:
    """ConfigMap and TrainJob running torchrun on the ``torch-distributed`` runtime."""
    command = ["torchrun", *torchrun_args(ctx)]
    if ctx.spec.packages:
        command = ["/bin/sh", "-c", PIP_INSTALL + '; exec "$@"', "fedspawner-launch", *command]
    trainer = {
        "image": ctx.spec.image,
        "command": command,
        "env": env(ctx, rank_from_index=True),
        "numNodes": ctx.spec.nodes,
        "numProcPerNode": procs_per_node(ctx),
        "resourcesPerNode": resources(ctx, gpu=True),
    }
    pod_patch: dict[str, Any] = {}
    if ctx.target.service_account:
        pod_patch["serviceAccountName"] = ctx.target.service_account
    pod_patch["securityContext"] = pod_security()
    pod_patch["volumes"] = volumes(ctx, shm=True)
    pod_patch["containers"] = [{
        "name": TRAINER_NODE,
        "volumeMounts": volume_mounts(ctx, shm=True),
        "securityContext": container_security(),
    }]
    pod_patch.update(scheduling(ctx, gpu=True))
    metadata = {"labels": ctx.labels(), "annotations": ctx.annotations()}
    patch = {
        "manager": PATCH_MANAGER,
        "trainingRuntimeSpec": {"template": {
            "metadata": metadata,
            "spec": {"replicatedJobs": [{
                "name": TRAINER_NODE,
                "template": {
                    "metadata": metadata,
                    "spec": {"template": {"metadata": ctx.pod_metadata("rank"), "spec": pod_patch}},
                },
            }]},
        }},
    }
    spec: dict[str, Any] = {
        "runtimeRef": {"name": TORCH_RUNTIME, "apiGroup": TRAINJOB.group,
                       "kind": "ClusterTrainingRuntime"},
        "trainer": trainer,
        "runtimePatches": [patch],
    }
    if ctx.spec.timeout:
        spec["activeDeadlineSeconds"] = ctx.spec.timeout
    return [script_configmap(ctx), TRAINJOB.manifest(ctx.metadata(ctx.name), spec)]
