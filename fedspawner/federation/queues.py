"""Kueue queues as people read them (pure functions over the objects Kueue keeps).

A member cluster that runs Kueue admits batch work through LocalQueues: a workload waits
in its LocalQueue until the ClusterQueue behind it has quota, then Kueue admits it. This
module reads those objects as plain dicts (LocalQueue, ClusterQueue where the credential
may see it, Workload) and says what they mean: which queue to use, how much quota is left,
how many workloads wait ahead, where a job stands and why it waits, in plain words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .quantity import cpu_millis, units
from .timestamps import epoch

#: The label that puts a workload object into a LocalQueue.
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
#: The LocalQueue name Kueue itself uses for jobs without a queue (LocalQueueDefaulting).
DEFAULT_QUEUE = "default"


def _conditions(obj: dict) -> dict[str, dict]:
    return {c.get("type"): c for c in ((obj.get("status") or {}).get("conditions") or [])}


def _true(obj: dict, kind: str) -> bool:
    return _conditions(obj).get(kind, {}).get("status") == "True"


def _amount(resource: str, value) -> float:
    """A quantity in the unit people read: cores for cpu, bytes for memory, a count otherwise."""
    if resource == "cpu":
        return cpu_millis(str(value)) / 1000
    return float(units(str(value)))


def show_amount(resource: str, value: float) -> str:
    """``4 cpu``, ``2.5Gi memory``, ``1 nvidia.com/gpu``."""
    if resource == "memory":
        for unit, size in (("Ti", 2 ** 40), ("Gi", 2 ** 30), ("Mi", 2 ** 20)):
            if value >= size:
                return f"{value / size:g}{unit} memory"
        return f"{value:g} bytes memory"
    return f"{round(value, 3):g} {resource}"


@dataclass(frozen=True)
class LocalQueueState:
    """What the hub sees of one LocalQueue (and its ClusterQueue, if it may read it)."""

    name: str
    cluster_queue: str
    pending: int
    admitted: int
    stopped: str | None  # why it takes no work now ("stopped by its admins (Hold)"), else None
    usage: dict[str, float]  # resource -> amount in use by this queue's admitted work
    quota: dict[str, float] | None  # resource -> nominal quota of the ClusterQueue (None: not visible)
    cq_usage: dict[str, float] | None  # resource -> used in the ClusterQueue (None: not visible)

    def free(self) -> dict[str, float] | None:
        """Quota left per resource, when the ClusterQueue is visible."""
        if self.quota is None:
            return None
        used = self.cq_usage if self.cq_usage is not None else self.usage
        return {r: max(q - used.get(r, 0.0), 0.0) for r, q in self.quota.items()}


def _flavor_sum(flavors: list[dict] | None, key: str) -> dict[str, float]:
    total: dict[str, float] = {}
    for flavor in flavors or []:
        for res in flavor.get("resources") or []:
            total[res["name"]] = total.get(res["name"], 0.0) + _amount(res["name"], res.get(key) or 0)
    return total


def cluster_queue_quota(cq: dict) -> dict[str, float]:
    """The nominal quota per resource of a ClusterQueue, summed over its flavors."""
    quota: dict[str, float] = {}
    for group in (cq.get("spec") or {}).get("resourceGroups") or []:
        for resource, amount in _flavor_sum(group.get("flavors"), "nominalQuota").items():
            quota[resource] = quota.get(resource, 0.0) + amount
    return quota


def stop_reason(lq: dict, cq: dict | None = None) -> str | None:
    """Why the LocalQueue (or its ClusterQueue) admits nothing now, in plain words; None if it does."""
    for obj, what in ((lq, "queue"), (cq or {}, "cluster queue")):
        policy = (obj.get("spec") or {}).get("stopPolicy")
        if policy and policy != "None":
            drains = " and is draining its running work" if policy == "HoldAndDrain" else ""
            return f"the {what} is stopped by the cluster's admins ({policy}){drains}"
    active = _conditions(lq).get("Active")
    if active and active.get("status") == "False":
        return f"the queue is not active: {active.get('message') or active.get('reason')}"
    return None


def local_queue_state(lq: dict, cq: dict | None = None) -> LocalQueueState:
    """A LocalQueue (and its ClusterQueue when the credential may read it) as ``LocalQueueState``."""
    status = lq.get("status") or {}
    cq_status = (cq or {}).get("status") or {}
    return LocalQueueState(
        name=lq["metadata"]["name"], cluster_queue=(lq.get("spec") or {}).get("clusterQueue", ""),
        pending=int(status.get("pendingWorkloads") or 0), admitted=int(status.get("admittedWorkloads") or 0),
        stopped=stop_reason(lq, cq), usage=_flavor_sum(status.get("flavorsReservation"), "total"),
        quota=cluster_queue_quota(cq) if cq else None,
        cq_usage=(_flavor_sum(cq_status["flavorsReservation"], "total")
                  if cq_status.get("flavorsReservation") is not None else None))


def choose_queue(names: list[str], wanted: str | None) -> str | None:
    """The LocalQueue jobs use: the one the admins named, else ``default``, else the only one.

    ``wanted`` is the admins' name (it must exist: the caller says so when it does not);
    with several queues and none named or called ``default``, the first by name.
    """
    if wanted:
        return wanted if wanted in names else None
    if DEFAULT_QUEUE in names:
        return DEFAULT_QUEUE
    return sorted(names)[0] if names else None


def queue_for(setting, groups: frozenset[str]) -> str | None:
    """The queue an admin setting names for a user: a name, or ``{group: name, "*": name}``."""
    if isinstance(setting, str) or setting is None:
        return setting or None
    for group in sorted(groups):
        if group in setting:
            return setting[group]
    return setting.get("*")


def placement_reason(queue: LocalQueueState, cluster: str) -> str:
    """``queue team on training: 2 ahead, 1.5 cpu free`` for a ranking's reasons."""
    text = f"queue {queue.name} on {cluster}: {queue.pending} ahead"
    if queue.stopped:
        return f"{text}; {queue.stopped}"
    free = queue.free()
    if free is None:
        return f"{text} (its quota is not visible to the hub: up to the cluster's capacity)"
    shown = ", ".join(show_amount(r, v) for r, v in sorted(free.items()) if r in ("cpu", "memory")
                      or "gpu" in r)
    return f"{text}, {shown} free" if shown else text


def fits(queue: LocalQueueState, needs: dict[str, float]) -> bool | None:
    """Whether ``needs`` fits in the quota left now (None: the quota is not visible)."""
    free = queue.free()
    if free is None:
        return None
    return all(free.get(r, 0.0) >= amount for r, amount in needs.items() if r in free)


def never_fits(queue: LocalQueueState, needs: dict[str, float]) -> str | None:
    """Why a job can never be admitted by this queue (its quota is smaller than the gang), else None."""
    if queue.quota is None:
        return None
    for resource, amount in sorted(needs.items()):
        if resource in queue.quota and amount > queue.quota[resource]:
            return (f"the queue's whole quota ({show_amount(resource, queue.quota[resource])}) is smaller than "
                    f"the job ({show_amount(resource, amount)}): it can never be admitted there")
    return None


def job_needs(request) -> dict[str, float]:
    """What a job's whole gang (a ``PlacementRequest``) asks of a queue's quota: cpu cores, memory bytes."""
    needs = {"cpu": request.pods * request.cpu_milli / 1000, "memory": float(request.pods * request.memory_bytes)}
    return {r: v for r, v in needs.items() if v}


# ---- workloads ---------------------------------------------------------------------------------


def admitted(workload: dict) -> bool:
    return _true(workload, "Admitted")


def finished(workload: dict) -> bool:
    return _true(workload, "Finished")


def pending(workload: dict) -> bool:
    """Waiting in its queue: neither admitted (nor holding quota) nor finished, and active."""
    spec = workload.get("spec") or {}
    return (spec.get("active", True) is not False and not finished(workload)
            and not _true(workload, "QuotaReserved") and not admitted(workload))


def _order(workload: dict) -> tuple:
    spec, meta = workload.get("spec") or {}, workload.get("metadata") or {}
    return (-int(spec.get("priority") or 0), meta.get("creationTimestamp") or "", meta.get("name") or "")


def position(workloads: list[dict], name: str) -> tuple[int, int] | None:
    """``(N, M)``: the workload ``name`` is N-th of the M pending workloads of its LocalQueue (by
    priority, then age, as Kueue orders them); None when it is not pending."""
    mine = next((w for w in workloads if w["metadata"]["name"] == name), None)
    if mine is None or not pending(mine):
        return None
    queue = (mine.get("spec") or {}).get("queueName")
    line = sorted((w for w in workloads if pending(w) and (w.get("spec") or {}).get("queueName") == queue),
                  key=_order)
    return [w["metadata"]["name"] for w in line].index(name) + 1, len(line)


def requests(workload: dict) -> dict[str, float]:
    """The workload's total requests per resource (``status.resourceRequests``, else its pod sets)."""
    total: dict[str, float] = {}
    sets = (workload.get("status") or {}).get("resourceRequests")
    if sets:
        for podset in sets:
            for resource, value in (podset.get("resources") or {}).items():
                total[resource] = total.get(resource, 0.0) + _amount(resource, value)
        return total
    for podset in (workload.get("spec") or {}).get("podSets") or []:
        count = int(podset.get("count") or 1)
        for container in ((podset.get("template") or {}).get("spec") or {}).get("containers") or []:
            for resource, value in ((container.get("resources") or {}).get("requests") or {}).items():
                total[resource] = total.get(resource, 0.0) + count * _amount(resource, value)
    return total


def _quota_words(message: str, needs: dict[str, float], free: dict[str, float] | None) -> str:
    """``waiting for quota (needs 4 cpu, 2 cpu free)`` from Kueue's message and what is known."""
    short = [r for r in needs if f"quota for {r} " in message] or [r for r in ("cpu", "memory") if r in needs]
    more = re.search(r"quota for (\S+) in flavor \S+, (\S+) more needed", message)
    parts = []
    for resource in short:
        part = f"needs {show_amount(resource, needs[resource])}"
        if free is not None and resource in free:
            part += f", {show_amount(resource, free[resource])} free"
        elif more and more.group(1) == resource:
            part += f", {show_amount(resource, _amount(resource, more.group(2)))} more than is free"
        parts.append(part)
    return "waiting for quota" + (f" ({'; '.join(parts)})" if parts else "")


def wait_reason(workload: dict, free: dict[str, float] | None = None) -> str | None:
    """Why a Workload is not running, in plain words (None once admitted or finished).

    From its conditions: quota (with what it needs and, where the ClusterQueue is visible,
    what is free), preemption, admission checks, a stopped queue, or a quota it can never fit.
    """
    if finished(workload) or admitted(workload):
        return None
    conds = _conditions(workload)
    if (workload.get("spec") or {}).get("active") is False:
        return "deactivated: " + (conds.get("Evicted", {}).get("message") or "Kueue will not admit it again")
    evicted = conds.get("Evicted", {})
    if evicted.get("status") == "True" and evicted.get("reason") == "Preempted":
        return "preempted: its quota went to other work; waiting to be admitted again"
    reserved = conds.get("QuotaReserved", {})
    if reserved.get("status") == "True":
        checks = [c for c in (workload.get("status") or {}).get("admissionChecks") or []
                  if c.get("state") != "Ready"]
        if checks:
            said = "; ".join(f"{c['name']}: {c.get('message') or c.get('state', 'Pending').lower()}"
                             for c in checks)
            return f"quota reserved; waiting for admission checks ({said})"
        return "quota reserved; being admitted"
    message = reserved.get("message") or ""
    lowered = message.lower()
    if "doesn't exist" in lowered or "does not exist" in lowered:
        return f"its queue does not exist on the cluster ({message}); ask the cluster's admins"
    if "stopped" in lowered or "inactive" in lowered or "hold" in lowered:
        return "the queue is stopped by the cluster's admins: nothing is admitted until they resume it"
    if "maximum capacity" in lowered or "exceeds" in lowered:
        return "can never be admitted: the queue's quota is smaller than the job"
    if "quota" in lowered:
        return _quota_words(message, requests(workload), free)
    if message:
        return f"waiting: {message}"
    return "waiting for Kueue to consider it"


def never_admitted(workload: dict) -> bool:
    """Whether Kueue says the workload can never fit its queue's quota."""
    reason = wait_reason(workload)
    return bool(reason and reason.startswith("can never be admitted"))


def admitted_time(workload: dict) -> str | None:
    cond = _conditions(workload).get("Admitted", {})
    return cond.get("lastTransitionTime") if cond.get("status") == "True" else None


def queue_view(workload: dict, workloads: list[dict], cluster: str, free: dict[str, float] | None = None) -> dict:
    """The ``queue`` object of a job's view: name, cluster, position N of M, reason, admitted time."""
    place = position(workloads, workload["metadata"]["name"])
    view = {"name": (workload.get("spec") or {}).get("queueName"), "cluster": cluster,
            "position": place[0] if place else None, "pending": place[1] if place else None,
            "reason": wait_reason(workload, free), "admitted": admitted_time(workload),
            "state": ("finished" if finished(workload) else "admitted" if admitted(workload) else "queued")}
    return {**view, "text": queue_line(view)}


def queue_line(queue: dict) -> str:
    """One line for people: ``queued in team on training, position 2 of 3: waiting for quota …; predicted
    wait ~40 s (…)``."""
    where = f"{queue.get('name')} on {queue.get('cluster')}"
    if queue.get("state") == "admitted":
        return f"admitted by queue {where}" + (f" at {queue['admitted']}" if queue.get("admitted") else "")
    if queue.get("state") == "finished":
        return f"ran through queue {where}"
    text = f"queued in {where}"
    if queue.get("position"):
        text += f", position {queue['position']} of {queue['pending']}"
    text = f"{text}: {queue['reason']}" if queue.get("reason") else text
    return f"{text}; {queue['predicted']}" if queue.get("predicted") else text


def ahead_of(workloads: list[dict], name: str) -> int:
    """How many workloads wait before ``name`` in its queue (0 when it is not pending)."""
    place = position(workloads, name)
    return place[0] - 1 if place else 0


def overdue(workload: dict, window: float, now: float) -> float | None:
    """Seconds a still-pending Workload has waited, when more than ``window`` (> 0), else None."""
    if window <= 0 or not pending(workload):
        return None
    created = epoch((workload.get("metadata") or {}).get("creationTimestamp"))
    if created is None or now - created <= window:
        return None
    return now - created


def gpus_requested(workload: dict) -> int:
    """The GPUs a Workload asks for in all (every resource whose name says gpu)."""
    return int(sum(v for r, v in requests(workload).items() if "gpu" in r))
