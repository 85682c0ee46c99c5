"""Install what the operators need in a cluster, through its API with the admin credential:
their namespaces, CRDs (waiting until Established), webhook configurations by URL,
Trainer's default ``torch-distributed`` ClusterTrainingRuntime, and the Spark drivers'
service account in the job namespaces (as the Spark operator's chart creates it)."""

from __future__ import annotations

import asyncio
import base64

from kubernetes_asyncio import client
from kubernetes_asyncio.client.rest import ApiException

from ..bootstrap import _create, admin_api_client  # _create: 409 (exists) is fine
from ..components import ClusterLayout
from .build import OperatorBuild
from ..operator_catalog import TRAINER_DEFAULT_RUNTIME
from .config import webhook_groups
from .manifests import load_documents, storage_version_only, url_webhooks


class OperatorError(RuntimeError):
    """An operator could not be installed or started; the message says why."""


def crds(build: OperatorBuild) -> list[dict]:
    """The operator's CRDs as they are installed here."""
    docs = [doc for rel in build.operator.crds for doc in load_documents(build.manifests / rel)]
    return [storage_version_only(d) for d in docs] if build.operator.storage_version_only else docs


def webhook_configurations(build: OperatorBuild, c: ClusterLayout, neighbours: tuple[str, ...]) -> list[dict]:
    """The operator's webhook configurations, calling its loopback port with the cluster CA."""
    op = build.operator
    if not op.webhooks:
        return []
    ca = base64.b64encode(c.pki.cert("ca").read_bytes()).decode()
    groups = webhook_groups(op, neighbours)
    docs = (url_webhooks(doc, op.name, c.ports[f"{op.name}-webhook"], ca, groups, op.namespace)
            for doc in load_documents(build.manifests / op.webhooks))
    return [d for d in docs if d]


async def install_crds(c: ClusterLayout, builds: list[OperatorBuild], timeout: float) -> None:
    """Create the namespaces and CRDs of the cluster's operators; return once all are Established."""
    async with admin_api_client(c) as api:
        core, ext = client.CoreV1Api(api), client.ApiextensionsV1Api(api)
        for b in builds:
            await _create(core.create_namespace, {"metadata": {"name": b.operator.namespace}})
        names = []
        for b in builds:
            for crd in crds(b):
                await _create(ext.create_custom_resource_definition, crd)
                names.append(crd["metadata"]["name"])
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        pending = list(names)
        while pending:
            crd = await ext.read_custom_resource_definition(pending[0])
            if any(k.type == "Established" and k.status == "True" for k in crd.status.conditions or []):
                pending.pop(0)
                continue
            if loop.time() > deadline:
                raise OperatorError(f"{c.spec.name}: the CRD {pending[0]} was not Established within {timeout:.0f}s")
            await asyncio.sleep(0.1)


async def register_webhooks(c: ClusterLayout, configs: list[dict]) -> None:
    """Create (or replace) the webhook configurations."""
    async with admin_api_client(c) as api:
        adm = client.AdmissionregistrationV1Api(api)
        for doc in configs:
            mutating = doc["kind"] == "MutatingWebhookConfiguration"
            create = (adm.create_mutating_webhook_configuration if mutating
                      else adm.create_validating_webhook_configuration)
            await _create(create, doc)


async def install_default_runtime(c: ClusterLayout, build: OperatorBuild, timeout: float) -> None:
    """Create Trainer's default ClusterTrainingRuntime; its webhook may need a moment after readyz."""
    (runtime,) = load_documents(build.manifests / TRAINER_DEFAULT_RUNTIME)
    group, version = runtime["apiVersion"].split("/")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with admin_api_client(c) as api:
        objs = client.CustomObjectsApi(api)
        while True:
            try:
                await _create(objs.create_cluster_custom_object, group, version, "clustertrainingruntimes", runtime)
                return
            except ApiException as err:
                if loop.time() > deadline:
                    raise OperatorError(f"{c.spec.name}: creating the ClusterTrainingRuntime "
                                        f"{runtime['metadata']['name']} failed: {err.status} {err.reason}: "
                                        f"{err.body}") from None
            await asyncio.sleep(0.5)


#: The Spark drivers' service account in job namespaces, named as the Spark operator's Helm
#: chart names it (release ``spark-operator``); the gateway's ``spark_service_account``.
SPARK_DRIVER_ACCOUNT = "spark-operator-spark"
#: What a driver may do in its own namespace, and nothing else: manage its executor pods, their
#: Services, ConfigMaps and volume claims (RBAC cannot narrow a create to one application).
SPARK_DRIVER_RULES = [{"apiGroups": [""], "resources": ["pods", "services", "configmaps", "persistentvolumeclaims"],
                       "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]}]
#: Namespaces that never run Spark jobs.
NOT_JOB_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


def spark_driver_objects(namespace: str) -> list[tuple[str, dict]]:
    """The driver's ServiceAccount, Role and RoleBinding in ``namespace``, as (kind, manifest)."""
    meta = {"name": SPARK_DRIVER_ACCOUNT, "namespace": namespace,
            "labels": {"app.kubernetes.io/name": "spark-operator", "app.kubernetes.io/component": "spark",
                       "app.kubernetes.io/managed-by": "fedspawner-sandbox"}}
    return [
        ("ServiceAccount", {"metadata": meta}),
        ("Role", {"metadata": meta, "rules": SPARK_DRIVER_RULES}),
        ("RoleBinding", {"metadata": meta,
                         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                     "name": SPARK_DRIVER_ACCOUNT},
                         "subjects": [{"kind": "ServiceAccount", "name": SPARK_DRIVER_ACCOUNT,
                                       "namespace": namespace}]}),
    ]


async def install_spark_driver_accounts(c: ClusterLayout, skip: tuple[str, ...]) -> None:
    """Create the Spark drivers' service account in every job namespace of the cluster.

    Job namespaces are those that exist once the sandbox is bootstrapped (the hub's and the
    other tenants'), less the system namespaces and ``skip`` (the operators' own).
    """
    async with admin_api_client(c) as api:
        core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
        create = {"ServiceAccount": core.create_namespaced_service_account,
                  "Role": rbac.create_namespaced_role, "RoleBinding": rbac.create_namespaced_role_binding}
        for ns in (await core.list_namespace()).items:
            name = ns.metadata.name
            if name in NOT_JOB_NAMESPACES or name in skip:
                continue
            for kind, body in spark_driver_objects(name):
                await _create(create[kind], name, body)
