"""Notebook servers through Kueue's pod integration, on the member clusters that opt in.

An admin opts clusters in with ``c.FederatedKubeSpawner.kueue_queues``: per cluster ``True``
(use the LocalQueue found in the server's namespace: ``default``, else the only one), a
LocalQueue name, or ``{group: name, "*": name}``; the key ``"*"`` opts in every cluster that
serves Kueue. Profiles (``kubespawner_override``) and group overrides change it like any
other setting. On such a cluster the server's pod carries the queue-name label; Kueue's pod
webhook gates it until the queue admits it. ``QueueWatch`` follows the pod's Workload and
says where the server stands (position N of M, why it waits) until it is admitted, or tells
the spawner to try the next cluster when the queue does not admit it in time.
"""

from __future__ import annotations

import asyncio
import time

from kubernetes_asyncio import client
from kubernetes_asyncio.client.rest import ApiException

from ..errors import UserError
from ..federation import queues
from ..federation.unreachable import UNREACHABLE

QUEUE_LABEL = queues.QUEUE_LABEL
KUEUE = ("kueue.x-k8s.io", "v1beta2")
#: Reasons Kueue will not change its mind about while the server waits: give up on the cluster at once.
HOPELESS = ("can never be admitted", "the queue is stopped", "its queue does not exist")


class QueueRefused(UserError):
    """The cluster's queue cannot take the server; the message says why, for people."""


def queue_setting(setting: dict, cluster: str, groups: frozenset[str]) -> tuple[bool, str | None] | None:
    """What the admins' ``kueue_queues`` asks of ``cluster``: None (the cluster does not queue
    notebooks), else ``(named, queue)`` — whether the cluster is named itself (not only by
    ``"*"``) and the LocalQueue wanted (None: the one found there)."""
    value = setting.get(cluster, setting.get("*"))
    if value is None or value is False or value == "":
        return None
    wanted = None if value is True else queues.queue_for(value, groups)
    return cluster in setting, wanted


async def choose(api: client.ApiClient, cluster: str, namespace: str, setting: dict,
                 groups: frozenset[str]) -> str | None:
    """The LocalQueue a notebook server uses on ``cluster`` (None: it starts there unqueued).

    Raises QueueRefused when the cluster is opted in but its queue cannot take the server:
    Kueue does not run there, the queue does not exist, or its admins stopped it.
    """
    asked = queue_setting(setting, cluster, groups)
    if asked is None:
        return None
    named, wanted = asked
    try:
        found = await asyncio.wait_for(client.CustomObjectsApi(api).list_namespaced_custom_object(
            *KUEUE, namespace, "localqueues"), 10)
    except UNREACHABLE as err:
        raise QueueRefused(f"Kueue's queues on {cluster} could not be read ({type(err).__name__}); "
                           "the cluster may be unreachable") from None
    except ApiException as err:
        if err.status == 404 and (named or wanted):
            raise QueueRefused(f"notebooks on {cluster} go through Kueue (kueue_queues), but Kueue does not run "
                               "there; ask its admins, or take it out of kueue_queues") from None
        if err.status == 404:
            return None  # only "*" named it, and it does not queue
        if err.status == 403 and wanted:
            return wanted  # the hub may not list the queues: trust the admins' name
        raise QueueRefused(f"the hub may not read Kueue's LocalQueues in namespace {namespace} on {cluster} "
                           f"({err.status} {err.reason}); ask its admins to grant it") from None
    by_name = {q["metadata"]["name"]: q for q in found.get("items") or []}
    name = queues.choose_queue(sorted(by_name), wanted)
    if name is None:
        if not named and not wanted:
            return None
        have = ", ".join(sorted(by_name)) or "none"
        what = f"the queue {wanted!r}" if wanted else "a LocalQueue"
        raise QueueRefused(f"notebooks on {cluster} go through Kueue, but {what} does not exist in namespace "
                           f"{namespace} there (its LocalQueues: {have}); ask the cluster's admins to create it "
                           "or correct kueue_queues")
    stopped = queues.stop_reason(by_name[name])
    if stopped:
        raise QueueRefused(f"queue {name} on {cluster}: {stopped}; nothing is admitted there now")
    return name


def kueue_down(err: BaseException, cluster: str) -> str | None:
    """Why the server's pod was refused when Kueue's pod webhook failed it (Kueue is down), else None."""
    body = str(getattr(err, "body", "") or "")
    if isinstance(err, ApiException) and err.status in (500, 503) and "failed calling webhook" in body \
            and "kb.io" in body:
        return (f"Kueue on {cluster} is not answering (its pod webhook failed), so that cluster queues no "
                "notebook servers now; nothing was left there. Its admins need to check Kueue")
    return None


def owned_by_pod(workloads: list[dict], pod_name: str, pod_uid: str | None) -> dict | None:
    """The Workload Kueue keeps for the pod (by owner reference; by uid once the pod's is known)."""
    for workload in workloads:
        for owner in (workload.get("metadata") or {}).get("ownerReferences") or []:
            if owner.get("kind") == "Pod" and owner.get("name") == pod_name \
                    and (pod_uid is None or owner.get("uid") == pod_uid):
                return workload
    return None


class QueueWatch:
    """Follows the Workload of one notebook pod in its queue, narrating each change."""

    def __init__(self, api: client.ApiClient, cluster: str, namespace: str, queue: str, pod_name: str,
                 window: float, narrate):
        self.api, self.cluster, self.namespace = api, cluster, namespace
        self.queue, self.pod_name, self.window, self.narrate = queue, pod_name, window, narrate
        self.began = time.monotonic()
        self.admitted = False
        self._said: str | None = None

    async def check(self, pod_uid: str | None) -> str | None:
        """One look at the queue: say what changed; return why to give up on this cluster, else None."""
        if self.admitted:
            return None
        try:
            listed = await asyncio.wait_for(client.CustomObjectsApi(self.api).list_namespaced_custom_object(
                *KUEUE, self.namespace, "workloads"), 10)
        except (ApiException, *UNREACHABLE):
            return None  # the cluster's health check says when it stops answering; look again soon
        workloads = listed.get("items") or []
        mine = owned_by_pod(workloads, self.pod_name, pod_uid)
        late = time.monotonic() - self.began > self.window
        if mine is None:
            if late:
                return (f"Kueue made no Workload for the server in queue {self.queue} within {self.window:g}s "
                        "(is Kueue's pod integration on there?)")
            return None
        view = queues.queue_view(mine, workloads, self.cluster)
        line = queues.queue_line(view)
        if line != self._said:
            self._said = line
            self.narrate(line)
        if view["state"] != "queued":
            self.admitted = True
            return None
        reason = view.get("reason") or ""
        if reason.startswith(HOPELESS):
            return line
        if late:
            place = f"position {view['position']} of {view['pending']}: " if view.get("position") else ""
            return f"not admitted by queue {self.queue} within {self.window:g}s ({place}{reason or 'waiting'})"
        return None
