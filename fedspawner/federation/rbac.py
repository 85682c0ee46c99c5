"""What the hub's credential may do in a member cluster: the one declaration of its RBAC rules.

Derived from the calls the code makes with the hub's namespace-scoped credential:

- the spawner (KubeSpawner underneath): pods (create, read, delete, watch), their events,
  PersistentVolumeClaims for user storage, the Secret and Service KubeSpawner makes for
  internal TLS / named servers, ``pods/portforward`` for ``access: tunnel`` and Ingresses
  for ``access: ingress``;
- the gateway: a job's ConfigMap (its record, merge-patched when cancelled), Services,
  pods and their logs, Jobs, events, and the operators' custom resources where a cluster
  serves them (TrainJob, SparkApplication; JobSets Trainer makes): the rows each kind's
  backends declare (``fedspawner.jobs.kinds``; a test pins that every one is here), and
  the namespaced TrainingRuntime its TrainJobs run on where the hub cannot see the
  cluster's ``torch-distributed`` ClusterTrainingRuntime (reading that cluster-scoped
  runtime needs a ClusterRole; without one the gateway keeps its own TrainingRuntime);
  the Lease that tells its replicas which one guards the cluster's jobs; Kueue's LocalQueues
  and Workloads (read only) where a cluster queues batch work;
- the inventory: ResourceQuotas, events and pods of the namespace.

``fedspawner join`` grants these in a Role, the sandbox's bootstrap grants the same, and
``fedspawner join --check`` checks them, so the three cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass

READ = ("get", "list", "watch")
MANAGE = ("create", "delete", *READ)


@dataclass(frozen=True)
class Permission:
    """One (API group, resource, verbs) grant and what breaks without it."""

    group: str
    resource: str
    verbs: tuple[str, ...]
    needed_by: str  # "spawner", "gateway", "inventory", or a combination
    without: str    # the consequence, said to the admin running --check
    required: bool = True


#: The rows for the operators' custom resources are those the job kinds' backends declare
#: (``fedspawner.jobs.kinds.rbac_rows()``; this core module cannot import them, a test pins them).
HUB_PERMISSIONS: tuple[Permission, ...] = (
    Permission("", "pods", (*MANAGE, "patch"), "spawner, gateway",
               "servers and jobs cannot run here: the spawner is unusable"),
    Permission("", "pods/log", ("get",), "gateway", "job logs cannot be shown"),
    Permission("", "pods/portforward", ("create", "get"), "spawner",
               "'access: tunnel' cannot reach servers here"),
    Permission("", "events", READ, "spawner, inventory",
               "spawn progress and 'recently full' GPU types are not seen"),
    Permission("", "resourcequotas", READ, "inventory",
               "the quota is not seen: GPU numbers come from declared capacity only"),
    Permission("", "configmaps", (*MANAGE, "patch"), "gateway", "jobs cannot be submitted or listed"),
    Permission("", "services", (*MANAGE, "patch"), "spawner, gateway",
               "distributed jobs and named servers cannot get a Service"),
    Permission("", "secrets", ("create", "delete", "get", "patch"), "spawner",
               "servers with internal TLS cannot start"),
    Permission("", "persistentvolumeclaims", (*MANAGE, "patch"), "spawner",
               "servers with persistent storage cannot start"),
    Permission("batch", "jobs", MANAGE, "gateway", "jobs cannot be submitted"),
    Permission("coordination.k8s.io", "leases", ("create", "get", "update"), "gateway",
               "several gateway replicas cannot share failover here: run a single replica",
               required=False),
    Permission("networking.k8s.io", "ingresses", (*MANAGE, "update"), "spawner",
               "'access: ingress' cannot expose servers here", required=False),
    Permission("trainer.kubeflow.org", "trainjobs", (*MANAGE, "patch"), "gateway",
               "Kubeflow TrainJobs cannot be used (torchrun Indexed Jobs still can)", required=False),
    Permission("trainer.kubeflow.org", "trainingruntimes", ("create", "get", "update"), "gateway",
               "fedspawner cannot keep its own TrainingRuntime here: its TrainJobs name the cluster's "
               "torch-distributed ClusterTrainingRuntime and fail where that is missing", required=False),
    Permission("jobset.x-k8s.io", "jobsets", MANAGE, "gateway",
               "the JobSets of TrainJobs cannot be followed", required=False),
    Permission("sparkoperator.k8s.io", "sparkapplications", (*MANAGE, "patch"), "gateway",
               "SparkApplications cannot be used (per-job Spark standalone clusters still can)",
               required=False),
    Permission("sparkoperator.k8s.io", "sparkconnects", MANAGE, "gateway",
               "Spark sessions cannot use the Spark operator's SparkConnect (fedspawner's own Connect "
               "servers still run)", required=False),
    Permission("kueue.x-k8s.io", "localqueues", READ, "gateway",
               "Kueue's queues are not found: jobs go around them (its admins may refuse that)",
               required=False),
    Permission("kueue.x-k8s.io", "workloads", READ, "gateway",
               "queued jobs show no queue position or reason for waiting", required=False),
)

#: What the optional cluster-wide inventory reader may do: watch nodes and pods, nothing else.
INVENTORY_PERMISSIONS: tuple[Permission, ...] = (
    Permission("", "nodes", READ, "inventory",
               "nodes are not visible: GPU numbers are 'up to', from quota and declared capacity",
               required=False),
    Permission("", "pods", READ, "inventory",
               "other tenants' pods are not visible: free GPUs on nodes cannot be counted exactly",
               required=False),
)


def rules(permissions: tuple[Permission, ...]) -> list[dict]:
    """RBAC ``rules`` for a Role or ClusterRole, one rule per API group and verb set."""
    grouped: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for p in permissions:
        grouped.setdefault((p.group, tuple(sorted(p.verbs))), []).append(p.resource)
    return [{"apiGroups": [group], "resources": resources, "verbs": list(verbs)}
            for (group, verbs), resources in grouped.items()]


def hub_role_rules() -> list[dict]:
    """The namespace Role of the hub's service account."""
    return rules(HUB_PERMISSIONS)


def inventory_rules() -> list[dict]:
    """The read-only ClusterRole of the optional inventory reader."""
    return rules(INVENTORY_PERMISSIONS)
