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

Runtime: the TrainJob references ``target.runtime`` (the gateway's choice, see
``fedspawner.gateway.trainjob``): the cluster's ``torch-distributed``
ClusterTrainingRuntime, or, where the hub's namespace-scoped credential cannot see a
suitable one, the namespaced ``TrainingRuntime`` ``fedspawner-torch-distributed`` that
``render_training_runtime`` describes (the same shape as Trainer's default runtime).

Labels: besides fedspawner's own, the TrainJob (and, through the patch, its JobSet,
Jobs and pods) carries ``app.kubernetes.io/name`` (the kind of job) and
``app.kubernetes.io/instance`` (the object's name), so ``kubectl get trainjobs -L`` and
label selectors of a cluster's own tools find it. The runtime fedspawner owns carries
what Kubeflow's tools look for: ``trainer.kubeflow.org/framework: torch`` (the Kubeflow
SDK recognises runtimes by it), ``trainer.kubeflow.org/trainjob-ancestor-step: trainer``
on its ``node`` job, and the labels Kubeflow Trainer's own objects carry
(``app.kubernetes.io/name: trainer``, ``part-of: kubeflow``). Status is the
operator's: nothing here writes it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ..labels import LABEL_MANAGED_BY, MANAGED_BY
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
TRAINING_RUNTIME = CustomResource("trainer.kubeflow.org", "v1alpha1", "trainingruntimes", "TrainingRuntime")
#: Cluster-scoped: only its group, version and plural are used.
CLUSTER_TRAINING_RUNTIME = CustomResource("trainer.kubeflow.org", "v1alpha1", "clustertrainingruntimes",
                                          "ClusterTrainingRuntime")
TORCH_RUNTIME = "torch-distributed"
#: The namespaced TrainingRuntime fedspawner creates where it cannot see a suitable one.
OWNED_RUNTIME = "fedspawner-torch-distributed"
#: The runtime's replicated job and container that run the trainer.
TRAINER_NODE = "node"
PATCH_MANAGER = "fedspawner.dev/renderer"
#: Trainer's label naming the step a runtime's job runs (the Kubeflow SDK reads the trainer's logs by it).
LABEL_ANCESTOR_STEP = "trainer.kubeflow.org/trainjob-ancestor-step"
#: Trainer's label naming a runtime's framework (the Kubeflow SDK lists runtimes by it).
LABEL_FRAMEWORK = "trainer.kubeflow.org/framework"
#: On fedspawner's runtime: a digest of its spec, so a changed spec is written again.
ANNOTATION_RUNTIME_REVISION = "fedspawner.dev/runtime-revision"
#: The image the runtime names; every TrainJob fedspawner renders sets its own.
RUNTIME_IMAGE = "pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime"


def runtime_ref(ctx: Ctx) -> dict[str, str]:
    """``spec.runtimeRef``: the target's runtime, else the cluster's ``torch-distributed``."""
    kind, name = ("ClusterTrainingRuntime", TORCH_RUNTIME)
    if ctx.target.runtime is not None:
        kind, name = ctx.target.runtime.kind, ctx.target.runtime.name
    return {"name": name, "apiGroup": TRAINJOB.group, "kind": kind}


def _labels(ctx: Ctx) -> dict[str, str]:
    """The job's labels plus the standard ``app.kubernetes.io`` ones."""
    return {"app.kubernetes.io/name": ctx.spec.kind, "app.kubernetes.io/instance": ctx.name, **ctx.labels()}


def render_training_runtime(namespace: str) -> dict[str, Any]:
    """The namespaced TrainingRuntime fedspawner owns: Trainer's ``torch-distributed``, namespaced,
    failing fast as the Indexed Job path does (``backoffLimit: 0``, ``restartPolicy: Never``: a
    restarted rank cannot rejoin torchrun's static gang, so one failed rank fails the job at once)."""
    spec = {
        "mlPolicy": {"numNodes": 1, "torch": {}},
        "template": {"spec": {"replicatedJobs": [{
            "name": TRAINER_NODE,
            "template": {
                "metadata": {"labels": {LABEL_ANCESTOR_STEP: "trainer"}},
                "spec": {"backoffLimit": 0, "template": {"spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": TRAINER_NODE, "image": RUNTIME_IMAGE}]}}},
            },
        }]}},
    }
    revision = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
    metadata = {
        "name": OWNED_RUNTIME, "namespace": namespace,
        "labels": {LABEL_FRAMEWORK: "torch", "app.kubernetes.io/name": "trainer",
                   "app.kubernetes.io/component": "runtime", "app.kubernetes.io/part-of": "kubeflow",
                   LABEL_MANAGED_BY: MANAGED_BY},
        "annotations": {ANNOTATION_RUNTIME_REVISION: revision},
    }
    return TRAINING_RUNTIME.manifest(metadata, spec)


def runtime_unsuitable(runtime: dict) -> str | None:
    """Why a (Cluster)TrainingRuntime cannot run fedspawner's TrainJobs, or None if it can.

    The TrainJob relies on the torch plugin (``mlPolicy.torch``: torchrun's ``PET_*``
    environment) and patches the ``node`` job's ``node`` container.
    """
    spec = runtime.get("spec") or {}
    if "torch" not in (spec.get("mlPolicy") or {}):
        return "it is not a torch runtime (no mlPolicy.torch)"
    jobs = ((spec.get("template") or {}).get("spec") or {}).get("replicatedJobs") or []
    node = next((j for j in jobs if j.get("name") == TRAINER_NODE), None)
    if node is None:
        return f"it has no replicated job {TRAINER_NODE!r}"
    pod = (((node.get("template") or {}).get("spec") or {}).get("template") or {}).get("spec") or {}
    if not any(c.get("name") == TRAINER_NODE for c in pod.get("containers") or []):
        return f"its {TRAINER_NODE!r} job has no container {TRAINER_NODE!r}"
    return None


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
    labels = _labels(ctx)
    metadata = {"labels": labels, "annotations": ctx.annotations()}
    patch = {
        "manager": PATCH_MANAGER,
        "trainingRuntimeSpec": {"template": {
            "metadata": metadata,
            "spec": {"replicatedJobs": [{
                "name": TRAINER_NODE,
                "template": {
                    "metadata": metadata,
                    "spec": {"template": {"metadata": {**ctx.pod_metadata("rank"),
                                                       "labels": {**labels, **ctx.labels("rank")}},
                                          "spec": pod_patch}},
                },
            }]},
        }},
    }
    spec: dict[str, Any] = {
        "runtimeRef": runtime_ref(ctx),
        "trainer": trainer,
        "runtimePatches": [patch],
    }
    if ctx.spec.timeout:
        spec["activeDeadlineSeconds"] = ctx.spec.timeout
    return [script_configmap(ctx), TRAINJOB.manifest({**ctx.metadata(ctx.name), "labels": labels}, spec)]
