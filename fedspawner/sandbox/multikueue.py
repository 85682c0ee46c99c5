"""MultiKueue in the sandbox: a cluster that dispatches its queue's workloads to worker clusters.

A topology marks a cluster with ``multikueue: {workers: [a, b]}``; once every cluster's Kueue
is ready, ``sandbox up`` sets MultiKueue up as a cluster admin would:

- on each worker: a client certificate issued by the worker's own CA for the user
  ``multikueue-<manager>`` (no group), a ClusterRole with what MultiKueue does there (batch Jobs,
  JobSets and TrainJobs where they run, Kueue Workloads, reading pods), and the ClusterQueue and
  LocalQueue of the manager's queue name, with the worker's node capacity as quota;
- on the manager, in Kueue's namespace: one Secret per worker with a kubeconfig embedding that
  certificate (its server is the worker's loopback apiserver), a MultiKueueCluster per worker, a
  MultiKueueConfig listing them, the AdmissionCheck that uses it, and the queue: a ClusterQueue
  (quota: the workers' capacity) whose admission check is MultiKueue, and its LocalQueue in the
  hub's namespace. ``sandbox up`` returns once MultiKueue reports every worker connected.

The manager's Kueue gets ``multiKueue.workerLostTimeout`` from the topology (``kueue_settings``).
"""

from __future__ import annotations

import asyncio
import time

import yaml
from kubernetes_asyncio import client
from kubernetes_asyncio.client.rest import ApiException

from . import kubeconfig
from .bootstrap import _create, admin_api_client
from .components import ClusterLayout
from .operator_catalog import OPERATORS
from .pki import issue_client_cert
from .topology import ClusterSpec, MultiKueueSpec
from ..federation.quantity import cpu_millis, units

KUEUE = ("kueue.x-k8s.io", "v1beta2")
CONTROLLER = "kueue.x-k8s.io/multikueue"
FLAVOR = "multikueue"
#: Kueue's namespace, where the workers' kubeconfig Secrets live.
KUEUE_NAMESPACE = OPERATORS["kueue"].namespace
#: What MultiKueue does on a worker (its upstream set-up grants the same verbs).
_WORKLOAD_VERBS = ["create", "delete", "get", "list", "watch", "update", "patch"]
_STATUS_VERBS = ["get", "patch", "update"]
REMOTE_RULES = [
    {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": _WORKLOAD_VERBS},
    {"apiGroups": ["batch"], "resources": ["jobs/status"], "verbs": _STATUS_VERBS},
    {"apiGroups": ["kueue.x-k8s.io"], "resources": ["workloads"], "verbs": _WORKLOAD_VERBS},
    {"apiGroups": ["kueue.x-k8s.io"], "resources": ["workloads/status"], "verbs": _STATUS_VERBS},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
]
_INTEGRATED = {"jobset": ("jobset.x-k8s.io", "jobsets"), "trainer": ("trainer.kubeflow.org", "trainjobs")}
#: How long ``sandbox up`` waits for MultiKueue to connect to every worker.
CONNECT_TIMEOUT = 120.0


class MultiKueueError(RuntimeError):
    """MultiKueue could not be set up; the message says why."""


def kueue_settings(spec: MultiKueueSpec) -> dict:
    """The ``multiKueue`` section of the manager's Kueue configuration."""
    return {"workerLostTimeout": spec.worker_lost_timeout}


def remote_user(manager: str) -> str:
    """The user MultiKueue of ``manager`` is on its workers."""
    return f"multikueue-{manager}"


def remote_rules(worker: ClusterSpec) -> list[dict]:
    """The worker's ClusterRole rules for MultiKueue: its Jobs, Workloads and integrated kinds."""
    rules = list(REMOTE_RULES)
    for name, (group, plural) in _INTEGRATED.items():
        if name in worker.operators:
            rules += [{"apiGroups": [group], "resources": [plural], "verbs": _WORKLOAD_VERBS},
                      {"apiGroups": [group], "resources": [f"{plural}/status"], "verbs": _STATUS_VERBS}]
    return rules


def _amount(resource: str, value: str) -> int:
    return cpu_millis(value) if resource == "cpu" else int(units(value))


def add(*quotas: dict[str, str]) -> dict[str, str]:
    """The sum of quotas per resource (cpu written in millicores, the rest in units)."""
    total: dict[str, int] = {}
    for quota in quotas:
        for resource, value in quota.items():
            total[resource] = total.get(resource, 0) + _amount(resource, value)
    return {r: (f"{v}m" if r == "cpu" else str(v)) for r, v in total.items()}


def capacity(spec: ClusterSpec) -> dict[str, str]:
    """The cluster's total node capacity per resource (less the pod count)."""
    return add(*({r: v for r, v in g.capacity().items() if r != "pods"} for g in spec.node_groups
                 for _ in range(g.count)))


def queue_objects(name: str, namespace: str, quota: dict[str, str], check: str | None = None) -> list[dict]:
    """ResourceFlavor, ClusterQueue ``name`` (``quota``; ``check`` as its admission check) and its
    LocalQueue in ``namespace``, as (plural, namespace or None, body)."""
    spec = {"namespaceSelector": {}, "resourceGroups": [{
        "coveredResources": sorted(quota),
        "flavors": [{"name": FLAVOR, "resources": [{"name": r, "nominalQuota": q} for r, q in sorted(quota.items())]}],
    }]}
    if check:
        spec["admissionChecksStrategy"] = {"admissionChecks": [{"name": check}]}
    return [("resourceflavors", None, {"kind": "ResourceFlavor", "metadata": {"name": FLAVOR}}),
            ("clusterqueues", None, {"kind": "ClusterQueue", "metadata": {"name": name}, "spec": spec}),
            ("localqueues", namespace, {"kind": "LocalQueue", "metadata": {"name": name, "namespace": namespace},
                                        "spec": {"clusterQueue": name}})]


def manager_objects(manager: ClusterSpec, namespace: str) -> list[tuple[str, str | None, dict]]:
    """The MultiKueue objects of a manager (less the Secrets), in the order they are created."""
    mk = manager.multikueue
    assert mk is not None
    docs = [("multikueueclusters", None, {"kind": "MultiKueueCluster", "metadata": {"name": w}, "spec": {
                "clusterSource": {"kubeConfig": {"locationType": "Secret", "location": secret_name(w)}}}})
            for w in mk.workers]
    docs += [("multikueueconfigs", None, {"kind": "MultiKueueConfig", "metadata": {"name": mk.queue},
                                          "spec": {"clusters": list(mk.workers)}}),
             ("admissionchecks", None, {"kind": "AdmissionCheck", "metadata": {"name": mk.queue}, "spec": {
                 "controllerName": CONTROLLER,
                 "parameters": {"apiGroup": KUEUE[0], "kind": "MultiKueueConfig", "name": mk.queue}}})]
    return docs


def secret_name(worker: str) -> str:
    return f"multikueue-{worker}"


def worker_kubeconfig(manager: str, worker: ClusterLayout) -> dict:
    """A kubeconfig for MultiKueue on ``manager`` to reach ``worker``: the worker's loopback
    apiserver and CA, and a client certificate the worker's CA issues for ``remote_user``."""
    home = worker.dir / "multikueue" / manager
    cert, key = home / "tls.crt", home / "tls.key"
    issue_client_cert(worker.pki, remote_user(manager), (), cert, key)
    return kubeconfig.admin_kubeconfig(worker.server, worker.pki.cert("ca"), cert, key)


async def _create_kueue(api, plural: str, namespace: str | None, body: dict, timeout: float = 60.0) -> None:
    """Create a Kueue object (409 is fine); Kueue's webhook may need a moment after its readyz."""
    objs = client.CustomObjectsApi(api)
    body = {"apiVersion": "/".join(KUEUE), **body}
    deadline = time.monotonic() + timeout
    while True:
        try:
            if namespace:
                await _create(objs.create_namespaced_custom_object, *KUEUE, namespace, plural, body)
            else:
                await _create(objs.create_cluster_custom_object, *KUEUE, plural, body)
            return
        except ApiException as err:
            if err.status < 500 or time.monotonic() > deadline:
                raise MultiKueueError(f"creating {body['kind']} {body['metadata']['name']} failed: "
                                      f"{err.status} {err.reason}: {err.body}") from None
            await asyncio.sleep(0.5)


async def _set_up_worker(manager: ClusterSpec, worker: ClusterLayout, namespace: str) -> dict:
    user = remote_user(manager.name)
    async with admin_api_client(worker) as api:
        rbac = client.RbacAuthorizationV1Api(api)
        await _create(rbac.create_cluster_role, {"metadata": {"name": user}, "rules": remote_rules(worker.spec)})
        await _create(rbac.create_cluster_role_binding, {
            "metadata": {"name": user},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": user},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]})
        for plural, ns, body in queue_objects(manager.multikueue.queue, namespace, capacity(worker.spec)):
            await _create_kueue(api, plural, ns, body)
    return worker_kubeconfig(manager.name, worker)


async def _set_up_manager(manager: ClusterLayout, workers: list[ClusterLayout], namespace: str) -> None:
    mk = manager.spec.multikueue
    configs = await asyncio.gather(*(_set_up_worker(manager.spec, w, namespace) for w in workers))
    async with admin_api_client(manager) as api:
        core = client.CoreV1Api(api)
        for w, config in zip(workers, configs):
            await _create(core.create_namespaced_secret, KUEUE_NAMESPACE, {
                "metadata": {"name": secret_name(w.spec.name), "namespace": KUEUE_NAMESPACE},
                "stringData": {"kubeconfig": yaml.safe_dump(config, sort_keys=False)}})
        for plural, ns, body in manager_objects(manager.spec, namespace):
            await _create_kueue(api, plural, ns, body)
        quota = add(*(capacity(w.spec) for w in workers))
        for plural, ns, body in queue_objects(mk.queue, namespace, quota, check=mk.queue):
            await _create_kueue(api, plural, ns, body)
        await _wait_connected(api, manager.spec.name, list(mk.workers), CONNECT_TIMEOUT)


async def _wait_connected(api, manager: str, workers: list[str], timeout: float) -> None:
    """Wait until every MultiKueueCluster of the manager is Active (MultiKueue reached the worker)."""
    objs = client.CustomObjectsApi(api)
    deadline, said = time.monotonic() + timeout, {}
    pending = list(workers)
    while pending:
        obj = await objs.get_cluster_custom_object(*KUEUE, "multikueueclusters", pending[0])
        active = next((c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == "Active"), {})
        if active.get("status") == "True":
            pending.pop(0)
            continue
        said[pending[0]] = active.get("message") or active.get("reason") or "no status yet"
        if time.monotonic() > deadline:
            raise MultiKueueError(f"{manager}: MultiKueue did not connect to worker {pending[0]} within "
                                  f"{timeout:.0f}s: {said[pending[0]]}")
        await asyncio.sleep(0.25)


def set_up(clusters: list[ClusterLayout], namespace: str, log=print) -> None:
    """Set MultiKueue up on every manager of the sandbox (its Kueue and its workers' must run)."""
    by_name = {c.spec.name: c for c in clusters}
    managers = [c for c in clusters if c.spec.multikueue]
    if not managers:
        return

    async def all_managers() -> None:
        await asyncio.gather(*(_set_up_manager(m, [by_name[w] for w in m.spec.multikueue.workers], namespace)
                               for m in managers))

    asyncio.run(all_managers())
    for m in managers:
        log(f"{m.spec.name}: MultiKueue dispatches queue {m.spec.multikueue.queue} to "
            f"{', '.join(m.spec.multikueue.workers)}")
