"""Label and annotation keys that every object of a job carries.

The member clusters are the source of truth for jobs: the gateway finds every
object and every pod of a job by these labels, and checks ownership with the
exact user name in the owner annotation (label values are lossy).
"""

from __future__ import annotations

from ..federation.model import GPU_TYPE_LABEL, JOB_ID_LABEL, JOB_NAME_LABEL, OWNER_NAME_ANNOTATION
from .validation import owner_label_value

__all__ = [
    "ANNOTATION_OWNER_NAME",
    "ANNOTATION_SPARK_UI_HOST",
    "ANNOTATION_SPARK_UI_PORT",
    "ANNOTATION_SPARK_UI_SERVICE",
    "LABEL_BACKEND",
    "LABEL_COMPONENT",
    "LABEL_GPU_TYPE",
    "LABEL_JOB_ID",
    "LABEL_JOB_NAME",
    "LABEL_KIND",
    "LABEL_MANAGED_BY",
    "LABEL_OWNER",
    "MANAGED_BY",
    "RESERVED_LABEL_PREFIX",
    "job_selector",
    "owner_label_value",
]

RESERVED_LABEL_PREFIX = "fedspawner.dev/"

LABEL_JOB_ID = JOB_ID_LABEL
LABEL_OWNER = "fedspawner.dev/owner"
LABEL_KIND = "fedspawner.dev/kind"
LABEL_BACKEND = "fedspawner.dev/backend"
LABEL_JOB_NAME = JOB_NAME_LABEL
#: Which part of a job a pod is: ``rank`` (torchrun/plain job), ``master``,
#: ``worker``, ``driver``, ``executor``.
LABEL_COMPONENT = "fedspawner.dev/component"
#: The canonical GPU type a GPU pod asks for: the key the federation inventory
#: reads to count the hub's own GPU use on clusters whose nodes it can't see.
LABEL_GPU_TYPE = GPU_TYPE_LABEL  # the federation core counts the hub's GPU use by it
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY = "fedspawner"

ANNOTATION_OWNER_NAME = OWNER_NAME_ANNOTATION
#: Where a Spark job's UI listens, for clients that want to link it: the
#: Service that exposes it, the host name inside the cluster (when the
#: renderer knows it) and the port.
ANNOTATION_SPARK_UI_SERVICE = "fedspawner.dev/spark-ui-service"
ANNOTATION_SPARK_UI_HOST = "fedspawner.dev/spark-ui-host"
ANNOTATION_SPARK_UI_PORT = "fedspawner.dev/spark-ui-port"


def job_selector(job_id: str) -> dict[str, str]:
    """The label selector matching every object and pod of one job."""
    return {LABEL_MANAGED_BY: MANAGED_BY, LABEL_JOB_ID: job_id}
