"""Kind ``pytorch``: torchrun DDP over ``nodes`` pods.

Backends, best first: a Kubeflow Trainer v2 ``TrainJob`` on ``torch-distributed`` (whose
JobSet the gateway follows too), else a headless Service and an Indexed Job running torchrun,
which any cluster runs. Pod ``i`` is node rank ``i``.
"""

from __future__ import annotations

from ...federation.rbac import MANAGE, Permission
from ..render.batch import render_pytorch
from ..render.common import CustomResource
from ..render.trainer import TRAINJOB, render_trainjob
from .base import Backend, Kind

#: What Kubeflow Trainer makes of a TrainJob (owned by it, not a workload of its own).
JOBSET = CustomResource("jobset.x-k8s.io", "v1alpha2", "jobsets", "JobSet")

TRAINJOB_BACKEND = Backend("trainjob", render_trainjob, TRAINJOB, owned=(JOBSET,), rbac=(
    Permission(TRAINJOB.group, TRAINJOB.plural, (*MANAGE, "patch"), "gateway",
               "Kubeflow TrainJobs cannot be used (torchrun Indexed Jobs still can)", required=False),
    Permission(TRAINJOB.group, "trainingruntimes", ("create", "get", "update"), "gateway",
               "fedspawner cannot keep its own TrainingRuntime here: its TrainJobs name the cluster's "
               "torch-distributed ClusterTrainingRuntime and fail where that is missing", required=False),
    Permission(JOBSET.group, JOBSET.plural, MANAGE, "gateway",
               "the JobSets of TrainJobs cannot be followed", required=False),
))

KIND = Kind(
    name="pytorch",
    summary="torchrun DDP over the nodes",
    default_image="pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime",
    backends=(TRAINJOB_BACKEND, Backend("indexed-job", render_pytorch)),
)
