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


def mirrored_message(worker: str, manager: str, job: dict | None) -> tuple[str, str]:
    """``(phase, message)`` of a dispatched job that has not finished, from the manager's Job
    (whose status MultiKueue mirrors from the worker's): its pods run on the worker, not here."""
    status = (job or {}).get("status") or {}
    active, ready = int(status.get("active") or 0), int(status.get("ready") or 0)
    where = f"on worker cluster {worker} (dispatched by MultiKueue on {manager}; its pods and logs are there)"
    if ready:
        return "Running", f"{ready} pod(s) running {where}"
    if active:
        return "Pending", f"{active} pod(s) starting {where}"
    return "Pending", f"waiting for its pods {where}"
