"""Jobs on a member cluster that is a MultiKueue manager (pure functions over Kueue's objects).

A MultiKueue manager admits a workload by copying it to one of its worker clusters, where its
pods run; the manager keeps the job's object (its status mirrored from the worker's copy) and
the Workload, whose ``status.clusterName`` names the worker once one admitted it (before that,
MultiKueue's admission check says ``The workload was admitted on "<worker>"``). The hub reads
only the manager: these functions say where the job went and what that means for its pods.
"""

from __future__ import annotations

import re

_ADMITTED_ON = re.compile(r'admitted on "([^"]+)"')


def dispatched_to(workload: dict) -> str | None:
    """The worker cluster a MultiKueue manager sent the workload to, or None (not dispatched)."""
    status = workload.get("status") or {}
    if status.get("clusterName"):
        return str(status["clusterName"])
    for check in status.get("admissionChecks") or []:
        found = _ADMITTED_ON.search(check.get("message") or "")
        if found and check.get("state") == "Ready":
            return found.group(1)
    return None


def dispatch_text(worker: str, manager: str) -> str:
    """``dispatched by MultiKueue on dispatch to batch-a``: the end of the queue line."""
    return f"dispatched by MultiKueue on {manager} to worker cluster {worker}"


def logs_elsewhere(worker: str, manager: str) -> str:
    """What a log request gets for a dispatched job: where its logs are, since the hub reads only the manager."""
    return (f"This job runs on worker cluster {worker} (dispatched by MultiKueue on {manager}): its pods and "
            f"their logs are there, and the hub does not reach that cluster. An admin of {worker} can read them "
            "with kubectl logs.\n")


def mirrored_message(phase: str, worker: str, manager: str, job: dict | None) -> tuple[str, str]:
    """``(phase, message)`` of a dispatched job from the manager's Job (whose status MultiKueue
    mirrors from the worker's copy): its pods run on the worker, not on the manager."""
    where = f"on worker cluster {worker} (dispatched by MultiKueue on {manager}"
    if phase == "Succeeded":
        return phase, f"completed {where})"
    status = (job or {}).get("status") or {}
    active, ready = int(status.get("active") or 0), int(status.get("ready") or 0)
    where += "; its pods and logs are there)"
    if ready:
        return "Running", f"{ready} pod(s) running {where}"
    if active:
        return "Pending", f"{active} pod(s) starting {where}"
    return "Pending", f"waiting for its pods {where}"


# ---- sending a job to a manager ------------------------------------------------------------------

#: The ``spec.managedBy`` Kueue's webhook gives a job whose queue a MultiKueue manager dispatches.
MANAGED_BY = "kueue.x-k8s.io/multikueue"
#: A dispatched job's files travel in its pod template, one annotation per file: MultiKueue copies
#: only the job to the worker, not the ConfigMap its pods would mount.
FILE_ANNOTATION = "files.fedspawner.dev/"
#: What the carried files may add to a pod's annotations (Kubernetes allows 256 KiB in all).
CARRY_LIMIT = 200 * 1024
_ANNOTATION_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")


class CannotCarry(ValueError):
    """The job's files cannot travel with it to a MultiKueue worker; the message says why."""


def probe_job(queue: str, namespace: str) -> dict:
    """A Job to create with ``dryRun=All`` in ``queue``: Kueue's webhook sets its ``spec.managedBy``
    to ``MANAGED_BY`` when a MultiKueue manager dispatches that queue (nothing is stored)."""
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "fedspawner-queue-probe", "namespace": namespace,
                         "labels": {"kueue.x-k8s.io/queue-name": queue}},
            "spec": {"suspend": True, "template": {"spec": {"restartPolicy": "Never", "containers": [
                {"name": "probe", "image": "probe", "resources": {"requests": {"cpu": "1m"}}}]}}}}


def _pod_templates(obj):
    """Every pod template (``{"metadata", "spec": {"containers"…}}``) inside a manifest."""
    if isinstance(obj, dict):
        if isinstance((obj.get("spec") or {}).get("containers"), list) and "kind" not in obj:
            yield obj
        for value in obj.values():
            yield from _pod_templates(value)
    elif isinstance(obj, list):
        for value in obj:
            yield from _pod_templates(value)


def carry_files(objects: list[dict]) -> list[dict]:
    """The job's manifests with each ConfigMap its pods mount carried in the pod templates instead:
    the files as annotations, the volume a downward-API volume reading them (the ConfigMap stays,
    on the manager). Raises CannotCarry when the files are too big for a pod's annotations."""
    maps = {o["metadata"]["name"]: o.get("data") or {} for o in objects if o.get("kind") == "ConfigMap"}
    for obj in objects:
        if obj.get("kind") == "ConfigMap":
            continue
        for template in _pod_templates(obj):
            _carry_into(template, maps)
    return objects


def _carry_into(template: dict, maps: dict[str, dict[str, str]]) -> None:
    annotations = template.setdefault("metadata", {}).setdefault("annotations", {})
    for volume in template["spec"].get("volumes") or []:
        name = (volume.get("configMap") or {}).get("name")
        if name not in maps:
            continue
        data = maps[name]
        paths = {i["key"]: i["path"] for i in volume["configMap"].get("items") or []} or {k: k for k in data}
        items = []
        for key, path in sorted(paths.items()):
            if not _ANNOTATION_NAME.match(key):
                raise CannotCarry(f"the file name {key!r} cannot travel with the job to a MultiKueue worker "
                                  "(use letters, digits, '.', '_' or '-', at most 63 characters)")
            annotations[FILE_ANNOTATION + key] = data.get(key, "")
            items.append({"path": path, "fieldRef": {"fieldPath": f"metadata.annotations['{FILE_ANNOTATION}{key}']"}})
        volume.pop("configMap")
        volume["downwardAPI"] = {"items": items}
    size = sum(len(k) + len(v.encode()) for k, v in annotations.items())
    if size > CARRY_LIMIT:
        raise CannotCarry(f"the job's script and files ({size // 1024} KiB) are too big to travel with it to a "
                          f"MultiKueue worker (at most {CARRY_LIMIT // 1024} KiB, in its pods' annotations); "
                          "move code into the image or choose a cluster that does not dispatch its queue")
