"""Kubeflow Trainer on a member cluster: which runtime a TrainJob runs on, and what its conditions say.

Runtime (``TrainingRuntimes.resolve``): the cluster's ``torch-distributed``
ClusterTrainingRuntime when the hub's credential can read it and it suits fedspawner's
TrainJobs (``render.trainer.runtime_unsuitable``); else a suitable namespaced
``torch-distributed`` TrainingRuntime the cluster's admins put in the hub's namespace; else
the namespaced TrainingRuntime fedspawner owns (``fedspawner-torch-distributed``), created
or brought up to date here, idempotently (its spec's digest is on it); where the hub may not
create that either (no Role rule, or the TrainingRuntime CRD is not served), the
ClusterTrainingRuntime by name (Trainer reads it with its own rights). The answer is cached
per cluster for ``ttl`` seconds; ``forget`` drops it when the cluster refused a TrainJob.

Status (``trainjob_waiting``): the TrainJob's ``Complete`` / ``Failed`` conditions end a job
like any workload's (``status.terminal_state``); while it has not started, its
``Suspended`` and ``Created`` conditions and whether Trainer has made its JobSet yet say
why no pod runs.
"""

from __future__ import annotations

import asyncio
import logging
import time

from kubernetes_asyncio.client.rest import ApiException

from ..jobs.render.target import RuntimeRef
from ..jobs.render.trainer import (
    ANNOTATION_RUNTIME_REVISION,
    CLUSTER_TRAINING_RUNTIME,
    OWNED_RUNTIME,
    TORCH_RUNTIME,
    TRAINING_RUNTIME,
    TRAINJOB,
    render_training_runtime,
    runtime_unsuitable,
)
from . import kube
from .model import JobObjects

log = logging.getLogger(__name__)

RUNTIMES = kube.Resource(TRAINING_RUNTIME.group, TRAINING_RUNTIME.version, TRAINING_RUNTIME.plural,
                         TRAINING_RUNTIME.kind)
CLUSTER_RUNTIMES_PATH = (f"/apis/{CLUSTER_TRAINING_RUNTIME.group}/{CLUSTER_TRAINING_RUNTIME.version}/"
                         f"{CLUSTER_TRAINING_RUNTIME.plural}")


async def _read(api, path: str) -> dict | None:
    """The object at ``path``, or None when it is not there or the credential may not read it."""
    try:
        return await kube.request(api, "GET", path, timeout=10)
    except ApiException as err:
        if err.status in (401, 403, 404):
            return None
        raise


async def ensure_owned_runtime(api, namespace: str) -> RuntimeRef:
    """Create fedspawner's TrainingRuntime in ``namespace``, or update it when its spec differs."""
    wanted = render_training_runtime(namespace)
    revision = wanted["metadata"]["annotations"][ANNOTATION_RUNTIME_REVISION]
    path = RUNTIMES.path(namespace, OWNED_RUNTIME)
    for _ in range(3):  # another gateway replica may write it at the same moment
        current = await _read(api, path)
        try:
            if current is None:
                await kube.request(api, "POST", RUNTIMES.path(namespace), body=wanted)
            elif (current["metadata"].get("annotations") or {}).get(ANNOTATION_RUNTIME_REVISION) != revision:
                body = {**wanted, "metadata": {**wanted["metadata"],
                                               "resourceVersion": current["metadata"]["resourceVersion"]}}
                await kube.request(api, "PUT", path, body=body)
            return RuntimeRef("TrainingRuntime", OWNED_RUNTIME)
        except ApiException as err:
            if err.status != 409:  # 409: created or changed meanwhile; look again
                raise
    raise RuntimeError(f"fedspawner's TrainingRuntime in {namespace} kept changing while it was written")


async def choose_runtime(api, namespace: str) -> RuntimeRef:
    """The runtime fedspawner's TrainJobs use on the cluster behind ``api`` (see the module doc)."""
    cluster_wide = await _read(api, f"{CLUSTER_RUNTIMES_PATH}/{TORCH_RUNTIME}")
    if cluster_wide is not None and runtime_unsuitable(cluster_wide) is None:
        return RuntimeRef("ClusterTrainingRuntime", TORCH_RUNTIME)
    local = await _read(api, RUNTIMES.path(namespace, TORCH_RUNTIME))
    if local is not None and runtime_unsuitable(local) is None:
        return RuntimeRef("TrainingRuntime", TORCH_RUNTIME)
    for name, found in (("ClusterTrainingRuntime", cluster_wide), ("TrainingRuntime", local)):
        if found is not None:
            log.info("%s %s does not suit fedspawner's TrainJobs: %s", name, TORCH_RUNTIME, runtime_unsuitable(found))
    try:
        return await ensure_owned_runtime(api, namespace)
    except ApiException as err:
        if err.status not in (403, 404):
            raise
        why = ("may not create TrainingRuntimes (`fedspawner join --check` lists what is missing)"
               if err.status == 403 else "finds no TrainingRuntime resource served")
    # Neither sees nor may keep a runtime of its own: Trainer reads runtimes with its own rights,
    # so the cluster's default may still be there.
    log.warning("in %s the hub %s; its TrainJobs reference the ClusterTrainingRuntime %s",
                namespace, why, TORCH_RUNTIME)
    return RuntimeRef("ClusterTrainingRuntime", TORCH_RUNTIME)


class TrainingRuntimes:
    """The runtime per cluster, cached for ``ttl`` seconds."""

    def __init__(self, ttl: float = 60.0):
        self.ttl = ttl
        self._cache: dict[str, tuple[float, RuntimeRef]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def forget(self, cluster: str) -> None:
        """Look again next time (the cluster refused a TrainJob, or its runtime may have gone)."""
        self._cache.pop(cluster, None)

    async def for_backend(self, backend: list[str], cluster: str, api, namespace: str) -> RuntimeRef | None:
        """The runtime to render with when ``backend`` (the chosen one, in a list) is ``trainjob``."""
        return await self.resolve(cluster, api, namespace) if backend == ["trainjob"] else None

    async def resolve(self, cluster: str, api, namespace: str) -> RuntimeRef:
        """The runtime for TrainJobs on ``cluster``; ApiException or network errors when it cannot tell."""
        async with self._locks.setdefault(cluster, asyncio.Lock()):
            cached = self._cache.get(cluster)
            if cached and time.monotonic() - cached[0] < self.ttl:
                return cached[1]
            ref = await choose_runtime(api, namespace)
            self._cache[cluster] = (time.monotonic(), ref)
            return ref


def _condition(workload: dict, kind: str) -> dict | None:
    return next((c for c in (workload.get("status") or {}).get("conditions") or [] if c.get("type") == kind), None)


def trainjob_waiting(objects: JobObjects) -> str | None:
    """Why a TrainJob's pods do not run yet, from its conditions and JobSet (None: nothing to say)."""
    workload = objects.primary()
    if not workload or workload.get("kind") != TRAINJOB.kind or objects.pods:
        return None
    suspended = _condition(workload, "Suspended")
    if suspended and suspended.get("status") == "True":
        why = suspended.get("message") or suspended.get("reason") or "suspended"
        return f"suspended on {objects.cluster} ({why}); Kubeflow Trainer starts it when it is resumed"
    created = _condition(workload, "Created")  # Trainer releases before v2.1 said so
    if created and created.get("status") == "False":
        return f"Kubeflow Trainer could not create its jobs on {objects.cluster}: {created.get('message') or ''}"
    if not any(o.get("kind") == "JobSet" for o in objects.others):
        return f"waiting for Kubeflow Trainer on {objects.cluster} to create the job's JobSet"
    return None
