"""Kind ``spark``: a PySpark driver and ``executors`` executor pods.

Backends, best first: a ``SparkApplication`` for the Kubeflow Spark operator, else a per-job
Spark standalone cluster from two Jobs (any cluster). The driver is rank 0 and its log shows
progress; executors (operator) or standalone workers follow it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...federation.rbac import MANAGE, Permission
from ..checks import MIN_SPARK_MEMORY_MIB, fail
from ..labels import LABEL_COMPONENT
from ..render.spark_operator import SPARKAPPLICATION, render_sparkapplication
from ..render.spark_standalone import render_spark_standalone
from .base import COMPLETION_INDEX, Backend, Kind, pod_meta, whole

#: The Spark operator's pod labels: the pod's role and an executor's number (1, 2, ...).
SPARK_ROLE = "spark-role"
SPARK_EXEC_ID = "spark-exec-id"


@dataclass(frozen=True)
class SparkKind(Kind):
    """Spark scales with executors and runs one driver before them."""

    def check(self, values: dict[str, Any]) -> None:
        nodes = values.get("nodes", 1)
        if nodes != 1:
            raise fail("nodes", "Spark jobs scale with executors, not nodes: leave nodes at 1 and set "
                                f"executors={nodes} instead.")

    def expected_pods(self, nodes: int, executors: int | None) -> int:
        return 1 + (executors or 0)

    def gang_pods(self, nodes: int, executors: int | None, gpus: int) -> int:
        # GPUs go to the executors only; a CPU job places the driver with them
        return (executors or 0) if gpus else self.expected_pods(nodes, executors)

    def role_and_rank(self, pod: dict) -> tuple[str, int]:
        lab, ann = pod_meta(pod)
        role = lab.get(LABEL_COMPONENT) or lab.get(SPARK_ROLE) or "rank"
        if role == "driver":
            return "driver", 0
        if role == "executor":
            return "executor", whole(lab.get(SPARK_EXEC_ID), 1)
        index = whole(ann.get(COMPLETION_INDEX, lab.get(COMPLETION_INDEX)), 0)
        if role == "worker":  # standalone workers, after the driver
            return "worker", index + 1
        return role, index


KIND = SparkKind(
    name="spark",
    summary="a driver and executors",
    default_image="spark:3.5.3-python3",
    backends=(
        Backend("sparkapplication", render_sparkapplication, SPARKAPPLICATION, rbac=(
            Permission(SPARKAPPLICATION.group, SPARKAPPLICATION.plural, (*MANAGE, "patch"), "gateway",
                       "SparkApplications cannot be used (per-job Spark standalone clusters still can)",
                       required=False),), creates_pods=True),
        Backend("spark-standalone", render_spark_standalone),
    ),
    options=("executors", "conf"),
    min_memory_mib=MIN_SPARK_MEMORY_MIB,
    memory_why=" for Spark, which runs a JVM per pod",
    leader="driver",
    roles=("driver", "executor", "master", "worker"),
)
