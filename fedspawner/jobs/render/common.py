"""Pieces every renderer shares: metadata, the script ConfigMap, pod parts.

Conventions every renderer keeps:

- Every object and every pod template carries the job's labels
  (``fedspawner.dev/job-id``, ``-owner``, ``-kind``, ``-backend``,
  ``-job-name``, ``app.kubernetes.io/managed-by=fedspawner``, the target's
  extra labels) and the ``fedspawner.dev/owner-name`` annotation; pods also
  get ``fedspawner.dev/component`` saying which part of the job they are.
- The script and the files next to it travel in one immutable ConfigMap,
  ``<name>-script``, mounted read-only at ``/fedspawner/script``. One of
  those files is always ``fedspawner_progress.py`` (the progress helper a
  script may import), and ``/fedspawner/script`` is on ``PYTHONPATH``.
- pip packages are listed in that ConfigMap as ``requirements.txt`` and
  installed at pod start by a fixed command (never with user text in a shell
  line) with ``pip install --user`` into an emptyDir that ``PYTHONUSERBASE``
  points at, so Python finds them with no path set-up and without reinstalling
  what the image already has. (Images whose Python is a virtualenv refuse
  ``--user``; the install then fails with pip's message in the init
  container's log.)
- Containers are never privileged and can't gain privileges; pods use the
  runtime's default seccomp profile, don't mount a service account token
  unless they need the API, and never use host paths or the host network.
  Every container requests CPU and memory, and is limited to its memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..checks import MAX_SCRIPT_BYTES, script_too_large
from ..errors import JobSpecError
from ..labels import (
    ANNOTATION_OWNER_NAME,
    LABEL_BACKEND,
    LABEL_COMPONENT,
    LABEL_GPU_TYPE,
    LABEL_JOB_ID,
    LABEL_JOB_NAME,
    LABEL_KIND,
    LABEL_MANAGED_BY,
    LABEL_OWNER,
    MANAGED_BY,
    owner_label_value,
)
from ..validation import human_bytes, mebibytes
from .target import RenderTarget

if TYPE_CHECKING:  # the kinds the spec checks against import these renderers
    from ..spec import JobSpec

SCRIPT_DIR = "/fedspawner/script"
PYLIB_DIR = "/fedspawner/pylib"
WORK_DIR = "/fedspawner/work"
REQUIREMENTS = "requirements.txt"
#: The progress helper's file name in the ConfigMap (its import name is the stem).
PROGRESS_HELPER = "fedspawner_progress.py"
#: Budget for the data in the script ConfigMap that depends on the job (the
#: API server allows 1 MiB; the rest is margin for keys, metadata and the
#: progress helper).
CONFIGMAP_DATA_LIMIT = MAX_SCRIPT_BYTES

#: The fixed command that installs the job's packages. It reads the package
#: list from the ConfigMap, so no user text is ever part of a shell line.
#: ``PIP_BREAK_SYSTEM_PACKAGES`` lets ``--user`` installs through on images
#: whose Python is marked externally managed (PEP 668); the install goes to
#: the pod's own emptyDir either way.
PIP_INSTALL = (
    'set -e; PY="$(command -v python3 || command -v python)"; '
    'PIP_BREAK_SYSTEM_PACKAGES=1 PIP_ROOT_USER_ACTION=ignore "$PY" -m pip install --user --quiet '
    f'--no-cache-dir --disable-pip-version-check --no-warn-script-location -r {SCRIPT_DIR}/{REQUIREMENTS}'
)


@dataclass(frozen=True)
class CustomResource:
    """The custom resource an operator backend renders: API group, version, plural and kind."""

    group: str
    version: str
    plural: str
    kind: str

    @property
    def api_version(self) -> str:
        """``<group>/<version>``, the manifests' ``apiVersion``."""
        return f"{self.group}/{self.version}"

    @property
    def crd(self) -> str:
        """``<plural>.<group>``: the CRD's name, as API discovery finds it."""
        return f"{self.plural}.{self.group}"

    def manifest(self, metadata: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
        """An object of this resource."""
        return {"apiVersion": self.api_version, "kind": self.kind, "metadata": metadata, "spec": spec}


@dataclass(frozen=True)
class Ctx:
    """A spec and its target, with the derived names and metadata."""

    spec: JobSpec
    target: RenderTarget

    @property
    def name(self) -> str:
        """The job's base object name."""
        return self.spec.name

    @property
    def configmap_name(self) -> str:
        """The script ConfigMap's name."""
        return f"{self.spec.name}-script"

    @property
    def uses_gpu(self) -> bool:
        """Whether the job asks for GPUs (the target must then say how to get them)."""
        if not self.spec.gpus.count:
            return False
        if self.target.gpu is None:
            raise JobSpecError(
                f"The job asks for {self.spec.gpus.count} GPU(s) per node, but the cluster it was placed "
                "on was given without GPU scheduling details. Choose a cluster that has GPUs of that "
                "type, or submit without gpus to run on CPUs.", field="gpus")
        return True

    def labels(self, component: str | None = None) -> dict[str, str]:
        """The job's labels, plus ``fedspawner.dev/component`` when given."""
        labels = {
            LABEL_MANAGED_BY: MANAGED_BY,
            LABEL_JOB_ID: self.target.job_id,
            LABEL_OWNER: owner_label_value(self.target.owner),
            LABEL_KIND: self.spec.kind,
            LABEL_BACKEND: self.target.backend,
            LABEL_JOB_NAME: self.spec.name,
            **self.target.extra_labels,
        }
        if self.target.gpu_type and self.spec.gpus.count:
            labels[LABEL_GPU_TYPE] = self.target.gpu_type
        if component:
            labels[LABEL_COMPONENT] = component
        return labels

    def annotations(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The owner annotation, plus ``extra``."""
        return {ANNOTATION_OWNER_NAME: self.target.owner, **(extra or {})}

    def metadata(self, name: str, component: str | None = None,
                 annotations: Mapping[str, str] | None = None) -> dict[str, Any]:
        """Object metadata in the target namespace."""
        return {
            "name": name,
            "namespace": self.target.namespace,
            "labels": self.labels(component),
            "annotations": self.annotations(annotations),
        }

    def pod_metadata(self, component: str, annotations: Mapping[str, str] | None = None) -> dict[str, Any]:
        """Pod template metadata."""
        return {"labels": self.labels(component), "annotations": self.annotations(annotations)}


@lru_cache(maxsize=1)
def progress_helper_source() -> str:
    """The source of ``fedspawner_progress.py``, shipped in every script ConfigMap."""
    return (Path(__file__).parent.parent / PROGRESS_HELPER).read_text(encoding="utf-8")


def script_configmap(ctx: Ctx, extra_files: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The immutable ConfigMap holding the script, requirements and helper files.

    Raises JobSpecError when the data would exceed ``CONFIGMAP_DATA_LIMIT``.
    """
    data = {ctx.spec.script_filename: ctx.spec.script}
    if ctx.spec.packages:
        data[REQUIREMENTS] = "\n".join(ctx.spec.packages) + "\n"
    data.update(extra_files or {})
    total = sum(len(key.encode()) + len(value.encode("utf-8")) for key, value in data.items())
    # The progress helper (about 2 KiB, the same in every job) rides in the margin
    # between the budget and the API server's 1 MiB, so users keep the whole budget.
    data[PROGRESS_HELPER] = progress_helper_source()
    if total > CONFIGMAP_DATA_LIMIT:
        script_size = len(ctx.spec.script.encode("utf-8"))
        if script_size > CONFIGMAP_DATA_LIMIT:  # pragma: no cover - JobSpec already refuses these
            raise JobSpecError(script_too_large(script_size), field="script")
        raise JobSpecError(
            f"The script ({human_bytes(script_size)}) and the files that travel with it "
            f"({human_bytes(total - script_size)}: the package list and launcher) add up to "
            f"{human_bytes(total)}, over the {human_bytes(CONFIGMAP_DATA_LIMIT)} limit of the ConfigMap "
            "that carries them (Kubernetes caps ConfigMaps at 1 MiB). Move code into the image or a "
            "pip package and keep the cell to the entry point.", field="script")
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": ctx.metadata(ctx.configmap_name),
        "immutable": True,
        "data": data,
    }


def headless_service(ctx: Ctx, ports: Sequence[tuple[str, int]]) -> dict[str, Any]:
    """A headless Service named like the job that gives every pod of the job a DNS name.

    Pods that set ``subdomain`` to this Service resolve as
    ``<hostname>.<service>``; ``publishNotReadyAddresses`` makes the names
    resolve as soon as the pods have addresses, before anything is ready.
    """
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": ctx.metadata(ctx.name),
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": True,
            "selector": {LABEL_MANAGED_BY: MANAGED_BY, LABEL_JOB_ID: ctx.target.job_id,
                         LABEL_JOB_NAME: ctx.spec.name},
            "ports": [{"name": name, "port": port, "targetPort": port, "protocol": "TCP"}
                      for name, port in ports],
        },
    }


def env(ctx: Ctx, *, rank_from_index: bool = False, extra: Iterable[Mapping[str, Any]] = (),
        defaults: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """A container's environment: fedspawner's variables, ``extra``, then the user's.

    ``defaults`` are set only where the user's env doesn't set the same name.
    With ``rank_from_index``, ``FEDSPAWNER_RANK`` comes from the pod's Job
    completion index. ``PYTHONPATH`` always ends with the script directory (a
    user's own ``PYTHONPATH`` comes first).
    """
    items: list[dict[str, Any]] = [
        {"name": "FEDSPAWNER_JOB_ID", "value": ctx.target.job_id},
        {"name": "FEDSPAWNER_JOB_NAME", "value": ctx.spec.name},
        {"name": "FEDSPAWNER_KIND", "value": ctx.spec.kind},
        {"name": "FEDSPAWNER_BACKEND", "value": ctx.target.backend},
        {"name": "FEDSPAWNER_NODES", "value": str(ctx.spec.nodes)},
    ]
    if rank_from_index:
        items.append(field_env("FEDSPAWNER_RANK",
                               "metadata.annotations['batch.kubernetes.io/job-completion-index']"))
    if ctx.spec.packages:
        items.append({"name": "PYTHONUSERBASE", "value": PYLIB_DIR})
    items.extend(dict(item) for item in extra)
    for name, value in {"PYTHONUNBUFFERED": "1", "PYTHONPATH": SCRIPT_DIR, **(defaults or {})}.items():
        if name not in ctx.spec.env:
            items.append({"name": name, "value": value})
    for name, value in ctx.spec.env.items():
        if name == "PYTHONPATH":
            value = f"{value}:{SCRIPT_DIR}" if value else SCRIPT_DIR
        items.append({"name": name, "value": value})
    return items


def field_env(name: str, field_path: str) -> dict[str, Any]:
    """An environment variable from the downward API (e.g. ``status.podIP``)."""
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": field_path}}}


def resources(ctx: Ctx, *, gpu: bool, cpu: str | None = None, memory: str | None = None) -> dict[str, Any]:
    """Requests for CPU and memory (the spec's unless given), a memory limit, and GPUs."""
    cpu = cpu or ctx.spec.cpu
    memory = memory or ctx.spec.memory
    requests: dict[str, str] = {"cpu": cpu, "memory": memory}
    limits: dict[str, str] = {"memory": memory}
    if gpu and ctx.uses_gpu:
        assert ctx.target.gpu is not None
        requests[ctx.target.gpu.resource] = limits[ctx.target.gpu.resource] = str(ctx.spec.gpus.count)
    return {"requests": requests, "limits": limits}


def gpu_limits(ctx: Ctx) -> dict[str, str]:
    """Only the GPU part of ``resources`` (for containers whose CPU and memory others set)."""
    if not ctx.uses_gpu:
        return {}
    assert ctx.target.gpu is not None
    return {ctx.target.gpu.resource: str(ctx.spec.gpus.count)}


def container_security() -> dict[str, Any]:
    """A container security context: not privileged, no privilege escalation."""
    return {"privileged": False, "allowPrivilegeEscalation": False}


def pod_security() -> dict[str, Any]:
    """A pod security context: the container runtime's default seccomp profile."""
    return {"seccompProfile": {"type": "RuntimeDefault"}}


def scheduling(ctx: Ctx, *, gpu: bool) -> dict[str, Any]:
    """``affinity`` and ``tolerations`` that land GPU pods on the right nodes, and keep the job's
    CPU-only pods off GPU nodes where the target says how (a preference, never a requirement)."""
    if not gpu or not ctx.uses_gpu:
        avoid = ctx.target.avoid_gpu_nodes
        if not avoid:
            return {}
        return {"affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [_plain(avoid)]}}}
    assert ctx.target.gpu is not None
    parts: dict[str, Any] = {}
    if ctx.target.gpu.node_affinity:
        parts["affinity"] = {"nodeAffinity": _plain(ctx.target.gpu.node_affinity)}
    if ctx.target.gpu.tolerations:
        parts["tolerations"] = [_plain(t) for t in ctx.target.gpu.tolerations]
    return parts


def volumes(ctx: Ctx, *, shm: bool = False, work: bool = False) -> list[dict[str, Any]]:
    """The script ConfigMap, and emptyDirs for packages, shared memory and scratch."""
    items: list[dict[str, Any]] = [{"name": "script", "configMap": {"name": ctx.configmap_name}}]
    if ctx.spec.packages:
        items.append({"name": "pylib", "emptyDir": {}})
    if shm:
        # PyTorch data loaders and NCCL use /dev/shm; the runtime's default is 64 MiB.
        items.append({"name": "dshm", "emptyDir": {"medium": "Memory",
                                                   "sizeLimit": f"{mebibytes(ctx.spec.memory) // 2}Mi"}})
    if work:
        items.append({"name": "work", "emptyDir": {}})
    return items


def volume_mounts(ctx: Ctx, *, shm: bool = False, work: bool = False) -> list[dict[str, Any]]:
    """Mounts matching ``volumes``."""
    mounts: list[dict[str, Any]] = [{"name": "script", "mountPath": SCRIPT_DIR, "readOnly": True}]
    if ctx.spec.packages:
        mounts.append({"name": "pylib", "mountPath": PYLIB_DIR})
    if shm:
        mounts.append({"name": "dshm", "mountPath": "/dev/shm"})
    if work:
        mounts.append({"name": "work", "mountPath": WORK_DIR})
    return mounts


def main_container(ctx: Ctx, name: str, command: Sequence[str], *, env: list[dict[str, Any]],
                   resources: dict[str, Any], mounts: list[dict[str, Any]],
                   ports: Sequence[tuple[str, int]] = ()) -> dict[str, Any]:
    """A container of the job's pods: the job's image, never privileged.

    ``ports`` are ``(name, port)`` pairs, all TCP; ``env``, ``resources`` and ``mounts``
    come from ``env``, ``resources`` and ``volume_mounts``.
    """
    container: dict[str, Any] = {
        "name": name,
        "image": ctx.spec.image,
        "imagePullPolicy": "IfNotPresent",
        "command": list(command),
    }
    if ports:
        container["ports"] = [{"name": port_name, "containerPort": port, "protocol": "TCP"}
                              for port_name, port in ports]
    container.update(env=env, resources=resources, volumeMounts=mounts, securityContext=container_security())
    return container


def pip_init_container(ctx: Ctx) -> list[dict[str, Any]]:
    """The init container installing the job's packages (an empty list without packages).

    It gets the user's env too, so ``PIP_INDEX_URL`` and friends work.
    """
    if not ctx.spec.packages:
        return []
    user_env = [{"name": name, "value": value} for name, value in ctx.spec.env.items()]
    return [main_container(ctx, "pip-install", ["/bin/sh", "-c", PIP_INSTALL],
                           env=[{"name": "PYTHONUSERBASE", "value": PYLIB_DIR}, *user_env],
                           resources=resources(ctx, gpu=False), mounts=volume_mounts(ctx))]


def pod_spec(ctx: Ctx, *, containers: list[dict[str, Any]], init_containers: Sequence[dict[str, Any]] = (),
             gpu: bool, shm: bool = False, work: bool = False, subdomain: str | None = None,
             ) -> dict[str, Any]:
    """A complete pod spec for the pods fedspawner's own Jobs create."""
    spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "enableServiceLinks": False,
        "automountServiceAccountToken": False,
        "securityContext": pod_security(),
    }
    if subdomain:
        spec["subdomain"] = subdomain
    if ctx.target.service_account:
        spec["serviceAccountName"] = ctx.target.service_account
    init = [*pip_init_container(ctx), *init_containers]
    if init:
        spec["initContainers"] = init
    spec["containers"] = containers
    spec["volumes"] = volumes(ctx, shm=shm, work=work)
    spec.update(scheduling(ctx, gpu=gpu))
    return spec


def indexed_job(ctx: Ctx, *, name: str, component: str, completions: int, pod: dict[str, Any],
                backoff_limit: int = 0, ignore_disruptions: bool = False,
                annotations: Mapping[str, str] | None = None) -> dict[str, Any]:
    """An Indexed ``batch/v1`` Job: ``completions`` pods, all at once, index = rank.

    With ``ignore_disruptions`` a pod evicted or preempted by the cluster
    (``DisruptionTarget``) is replaced without counting against
    ``backoff_limit``.
    """
    spec: dict[str, Any] = {
        "completionMode": "Indexed",
        "completions": completions,
        "parallelism": completions,
        "backoffLimit": backoff_limit,
        "template": {"metadata": ctx.pod_metadata(component, annotations), "spec": pod},
    }
    if ignore_disruptions:
        spec["podFailurePolicy"] = {"rules": [{
            "action": "Ignore",
            "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}],
        }]}
        # Required with a pod failure policy; also keeps a replacement from
        # running next to the pod it replaces (same host name, same rank).
        spec["podReplacementPolicy"] = "Failed"
    if ctx.spec.timeout:
        spec["activeDeadlineSeconds"] = ctx.spec.timeout
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": ctx.metadata(name, component, annotations),
        "spec": spec,
    }


def _plain(value: Any) -> Any:
    """Deep-copy mappings and sequences into plain dicts and lists."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value
