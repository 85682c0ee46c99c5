"""A job's state for people, from its objects on the cluster (pure functions).

``job_view`` turns the objects carrying a job's id (the anchor ConfigMap with the
job record, the Job or custom resource, the pods) into the ``Job`` JSON of the REST
API: the phase, a message saying what is going on, one row per rank or pod.

Phase: ``Succeeded`` / ``Failed`` when the Job or custom resource says so (a batch Job
says so first with ``SuccessCriteriaMet`` / ``FailureTarget``, and a batch Job whose every
rank's pod has succeeded has succeeded, whatever its conditions say yet); otherwise
``Running`` once every expected pod runs (or has finished), else ``Pending``.
"""

from __future__ import annotations

from ..federation.model import InventorySnapshot
from ..federation.placement import gpu_display
from ..jobs import kinds
from ..jobs.vocabulary import FINISHED
from ..jobs.labels import (
    ANNOTATION_SPARK_UI_HOST,
    ANNOTATION_SPARK_UI_PORT,
    ANNOTATION_SPARK_UI_SERVICE,
)
from . import sparkapp
from .model import JobObjects, annotations
from .trainjob import trainjob_waiting

_NO_CLUSTERS = InventorySnapshot(clusters=())


def role_and_rank(pod: dict, kind: str | None) -> tuple[str, int]:
    """Which part of a job of ``kind`` a pod is, and its rank (rank 0 is the one whose log shows
    progress), as the kind maps its pods."""
    return kinds.lookup(kind).role_and_rank(pod)


def _main_status(pod: dict) -> dict:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    containers = (pod.get("spec") or {}).get("containers") or [{}]
    main = containers[0].get("name")
    return next((s for s in statuses if s.get("name") == main), statuses[0] if statuses else {})


def unschedulable(pod: dict) -> str | None:
    """The scheduler's message ("" if it gave none) while it cannot place the pod, else None."""
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False" \
                and cond.get("reason") == "Unschedulable":
            return cond.get("message") or ""
    return None


def pod_reason(pod: dict) -> str | None:
    """Why a pod is not simply running: unschedulable, waiting, terminated with an error."""
    status = pod.get("status") or {}
    if status.get("phase") in (None, "Pending"):
        why = unschedulable(pod)
        if why is not None:
            return f"Unschedulable: {(why or 'no node fits')[:240]}"
    for cs in [*(status.get("initContainerStatuses") or []), _main_status(pod)]:
        state = cs.get("state") or {}
        waiting, done = state.get("waiting"), state.get("terminated")
        if waiting and waiting.get("reason") not in ("ContainerCreating", "PodInitializing"):
            return waiting.get("reason")
        if done and (done.get("exitCode") or 0) != 0:
            return f"{done.get('reason') or 'Error'} (exit code {done.get('exitCode')})"
    return status.get("reason")


def pod_row(pod: dict, kind: str | None) -> dict:
    """One row of the ``pods`` list."""
    role, rank = role_and_rank(pod, kind)
    status = pod.get("status") or {}
    statuses = status.get("containerStatuses") or []
    return {
        "name": pod["metadata"]["name"], "rank": rank, "role": role,
        "phase": status.get("phase") or "Pending",
        "node": (pod.get("spec") or {}).get("nodeName") or None,
        "restarts": sum(cs.get("restartCount", 0) for cs in statuses),
        "ready": bool(statuses) and all(cs.get("ready") for cs in statuses),
        "reason": pod_reason(pod),
    }


def current_pods(objects: JobObjects) -> list[dict]:
    """The newest pod of each (role, rank), ordered by rank: replaced pods drop out."""
    newest: dict[tuple[str, int], dict] = {}
    for pod in sorted(objects.pods, key=lambda p: p["metadata"].get("creationTimestamp") or ""):
        newest[role_and_rank(pod, objects.kind)] = pod
    return [newest[key] for key in sorted(newest, key=lambda k: (k[1], k[0]))]


def terminal_state(workload: dict | None) -> tuple[str, str, str | None] | None:
    """``(phase, reason, when)`` once a Job or custom resource has finished, else None."""
    if not workload:
        return None
    if sparkapp.is_sparkapplication(workload):
        return sparkapp.terminal_state(workload)
    status = workload.get("status") or {}
    for cond in status.get("conditions") or []:
        if cond.get("status") != "True":
            continue
        if cond.get("type") in ("Complete", "Succeeded", "SuccessCriteriaMet"):
            when = status.get("completionTime") or cond.get("lastTransitionTime")
            return "Succeeded", cond.get("reason") or "", when
        if cond.get("type") in ("Failed", "FailureTarget"):
            text = " ".join(p for p in (cond.get("reason"), cond.get("message")) if p)
            return "Failed", text, cond.get("lastTransitionTime")
    return None


def expected_pods(objects: JobObjects) -> int:
    """The pods a job runs when everything is up, as its kind counts them."""
    record = objects.record
    if record is None:
        return max(len({role_and_rank(p, objects.kind) for p in objects.pods}), 1)
    return kinds.lookup(record.kind).expected_pods(record.nodes, record.executors)


def _who(row: dict) -> str:
    return row["role"] if row["role"] in ("driver", "master") else f"rank {row['rank']}"


def failure_message(rows: list[dict], reason: str) -> str:
    """``rank 1 failed: exit code 1`` from the first failed pod, else the workload's reason."""
    for row in rows:
        if row["phase"] == "Failed":
            return f"{_who(row)} failed: {row['reason'] or 'unknown reason'}"
    if "DeadlineExceeded" in reason:
        return f"stopped after its time limit ({reason})"
    return f"failed: {reason}" if reason else "failed"


def _waiting_message(objects: JobObjects, rows: list[dict], expected: int,
                     snapshot: InventorySnapshot | None) -> str:
    held = trainjob_waiting(objects)
    if held:
        return held
    for row in rows:
        if row["reason"] and row["phase"] == "Pending":
            return f"{_who(row)} on {objects.cluster}: {row['reason']}"
    record = objects.record
    running = sum(r["phase"] == "Running" for r in rows)
    what = f"{expected} pod(s)"
    if record and record.gpus_per_node:
        gpu = gpu_display(record.gpu_type, snapshot or _NO_CLUSTERS) if record.gpu_type else "GPU"
        what = f"{expected} × {record.gpus_per_node} {gpu}"
    if not rows:
        return f"waiting for {what} on {objects.cluster}: " + (sparkapp.before_pods(objects.primary())
                                                               or "pods not created yet")
    return f"waiting for {what} on {objects.cluster} ({running} of {expected} running)"


def _start_time(pod: dict) -> str | None:
    state = _main_status(pod).get("state") or {}
    started = (state.get("running") or state.get("terminated") or {}).get("startedAt")
    return started or (pod.get("status") or {}).get("startTime")


def every_rank_succeeded(objects: JobObjects, expected: int) -> tuple[str, str, str | None] | None:
    """``("Succeeded", "", when)`` once the newest pod of every rank of a batch Job has succeeded (its
    Job's own conditions may come later, or not at all while a pod is kept terminating), else None."""
    primary = objects.primary()
    if primary is None or primary.get("kind") != "Job":
        return None
    pods = current_pods(objects)
    if len(pods) < expected or any((p.get("status") or {}).get("phase") != "Succeeded" for p in pods):
        return None
    ends = [((_main_status(p).get("state") or {}).get("terminated") or {}).get("finishedAt") for p in pods]
    return "Succeeded", "", max((e for e in ends if e), default=None)


def phase_and_message(objects: JobObjects, rows: list[dict], snapshot: InventorySnapshot | None = None
                      ) -> tuple[str, str, str | None]:
    """``(phase, message, finished)`` of a job (``snapshot`` names its GPUs as the clusters do)."""
    done = terminal_state(objects.primary())
    expected = expected_pods(objects)
    if done is None:
        done = every_rank_succeeded(objects, expected)
    if done and done[0] == "Succeeded":
        return "Succeeded", f"completed on {objects.cluster}", done[2]
    if done:
        return "Failed", failure_message(rows, done[1]), done[2]
    started = [r for r in rows if r["phase"] in ("Running", "Succeeded")]
    if len(started) >= expected:
        running = sum(r["phase"] == "Running" for r in rows)
        return "Running", (f"{running} pod(s) running on {objects.cluster}" if running
                           else f"finishing on {objects.cluster}"), None
    failed = [r for r in rows if r["phase"] == "Failed"]
    if failed:
        return "Running", f"{failure_message(failed, '')}; waiting for the job to stop or retry", None
    return "Pending", _waiting_message(objects, rows, expected, snapshot), None


def ui_url(objects: JobObjects, phase: str) -> str | None:
    """The Spark UI's in-cluster URL while a Spark job runs."""
    if phase != "Running":
        return None
    for obj in objects.workloads:
        if sparkapp.is_sparkapplication(obj):  # the operator names the UI's Service once it has made it
            return sparkapp.ui_url(obj, objects.namespace)
        ann = annotations(obj)
        port = ann.get(ANNOTATION_SPARK_UI_PORT)
        service = ann.get(ANNOTATION_SPARK_UI_SERVICE)
        in_cluster = f"{service}.{objects.namespace}.svc" if service else None
        host = ann.get(ANNOTATION_SPARK_UI_HOST) or in_cluster
        if port and host:
            return f"http://{host}:{port}"
    return None


def job_view(objects: JobObjects, progress: dict | None = None, snapshot: InventorySnapshot | None = None
             ) -> dict:
    """The REST API's ``Job`` for one job; GPU types are named as in ``snapshot`` (else the catalog)."""
    record = objects.record
    pods = current_pods(objects)
    rows = [pod_row(p, objects.kind) for p in pods]
    phase, message, finished = phase_and_message(objects, rows, snapshot)
    starts = [_start_time(p) for p in pods]
    started = max(s for s in starts if s) if phase != "Pending" and any(starts) else None
    anchor_meta = (objects.anchor or {}).get("metadata") or {}
    return {
        "id": objects.job_id,
        "name": record.name if record else objects.object_name,
        "kind": record.kind if record else objects.kind,
        "owner": objects.owner,
        "cluster": objects.cluster,
        "backend": objects.backend,
        "gpu_type": record.gpu_type if record else None,
        "gpus_per_node": record.gpus_per_node if record else 0,
        "nodes": record.nodes if record else len(rows),
        "executors": record.executors if record else None,
        "image": record.image if record else None,
        "phase": phase,
        "message": message,
        "created": record.created if record else anchor_meta.get("creationTimestamp"),
        "started": started,
        "finished": finished if phase in FINISHED else None,
        "pods": rows,
        **kinds.lookup(record.kind if record else objects.kind).view(
            record.nodes if record else len(rows), record.executors if record else None),
        "progress": progress,
        "ui_url": ui_url(objects, phase),
        "history": list(record.history) if record else [],
        "origin": record.origin if record else None,
    }


def ranks(view: dict) -> dict[str, int]:
    """``{"ready", "total"}`` of a ``Job``: pods running and ready (or done), of those expected."""
    ready = sum(1 for pod in view["pods"] if pod["phase"] == "Succeeded" or (pod["phase"] == "Running"
                                                                             and pod["ready"]))
    total = view.get("expected_pods") or view["nodes"]
    return {"ready": ready, "total": max(total, len(view["pods"]))}


#: The fields of a ``Job`` that a ``JobRow`` (the jobs feed) keeps.
ROW_FIELDS = ("id", "name", "kind", "owner", "cluster", "backend", "gpu_type", "gpus_per_node", "nodes",
              "phase", "message", "created", "started", "finished", "origin")


def job_row(objects: JobObjects, snapshot: InventorySnapshot | None = None) -> dict:
    """The jobs feed's compact ``JobRow`` of one job: no pods, logs or history, nothing that ages."""
    return row_of(job_view(objects, None, snapshot), snapshot)


def row_of(view: dict, snapshot: InventorySnapshot | None = None) -> dict:
    """The ``JobRow`` of a job's ``Job`` view (``job_row``)."""
    row = {key: view[key] for key in ROW_FIELDS}
    row["gpu_display"] = gpu_display(view["gpu_type"], snapshot or _NO_CLUSTERS) if view["gpu_type"] else None
    row["ranks"] = ranks(view)
    return row


def cancelled_view(last: dict, message: str) -> dict:
    """The ``Job`` of a job just cancelled, from its last view: no pods, nothing running."""
    return {**last, "phase": "Cancelled", "pods": [], "ui_url": None, "message": message}
