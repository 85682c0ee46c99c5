"""When to give up on a cluster and try the next one (pure functions).

A server or job fails over on what says "not here, not now": the scheduler cannot
place its pods (too few GPUs, taints, affinity), the namespace quota refuses them,
the image cannot be pulled, or the apiserver does not answer. Other errors (a bug in
a profile, say) end the attempt with their own message. ``subject`` names what is
being started in the reasons ("the server", "the job").
"""

from __future__ import annotations

import re

from kubernetes_asyncio.client.rest import ApiException

from .model import NODE_LIFECYCLE_TAINTS
from .unreachable import UNREACHABLE


class Failover(Exception):
    """This cluster will not run it now; the message says why, for people."""


#: Container waiting reasons and event text that mean the image cannot be had there.
IMAGE_PULL_REASONS = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "Back-off pulling image")
_INSUFFICIENT = re.compile(r"Insufficient ([\w./-]*\w)")
# The scheduler says these while volumes are still being bound; it retries by itself.
_TRANSIENT = ("unbound immediate PersistentVolumeClaims", "waiting for ephemeral volume")
_TAINT = re.compile(r"untolerated taint(?:\(s\))?s? \{([^:}]+)")
#: Taint keys GPU nodes carry (device plugins, cloud GPU pools).
_GPU_TAINTS = ("nvidia.com/gpu", "amd.com/gpu", "sku")
_QUOTA = re.compile(r"exceeded quota: ([^,]+), requested: ([^,]+), used: ([^,]+), limited: ([^\"]+)")


def reason_for_scheduling(message: str, subject: str = "the server") -> str | None:
    """A reason to fail over from the scheduler's FailedScheduling message, or None
    while the scheduler is only waiting for volumes to bind."""
    if any(t in message for t in _TRANSIENT):
        return None
    short = _INSUFFICIENT.findall(message)
    if short:
        return "no node has enough " + ", ".join(dict.fromkeys(short)) + " free now"
    if "untolerated taint" in message:
        return _taint_reason(_TAINT.findall(message), subject)
    if "didn't match Pod's node affinity" in message or "node affinity/selector" in message:
        return "no node matches the requested GPU type now"
    return f"the scheduler cannot place {subject} now (" + message.split(". ")[0][:160] + ")"


def _taint_reason(keys: list[str], subject: str) -> str:
    """Say what the taints the scheduler named mean: nodes not usable now (unreachable, not
    ready, cordoned), GPU nodes, or other taints, by key."""
    keys = list(dict.fromkeys(k.strip() for k in keys))
    states = [NODE_LIFECYCLE_TAINTS[k] for k in keys if k in NODE_LIFECYCLE_TAINTS]
    if states and len(states) == len(keys):
        return "its nodes are not usable now (" + ", ".join(dict.fromkeys(states)) + ")"
    if keys and all(k in _GPU_TAINTS for k in keys):
        return f"its GPU nodes are tainted and {subject} does not tolerate them"
    others = [k for k in keys if k not in NODE_LIFECYCLE_TAINTS]
    if others:
        return f"its nodes carry taints {subject} does not tolerate ({', '.join(others)})"
    return f"its nodes carry taints {subject} does not tolerate"


def quota_reason(text: str) -> str | None:
    """'over its quota … (asked …, in use …, limit …)' from an apiserver quota refusal."""
    if "exceeded quota" not in text:
        return None
    match = _QUOTA.search(text)
    if not match:
        return "over the namespace quota"
    name, requested, used, limited = match.groups()
    return f"over its quota {name} (asked {requested}, in use {used}, limit {limited})"


def reason_for_event(event: dict, subject: str = "the server") -> str | None:
    """A reason to fail over from one of the pod's events; None if it is harmless."""
    reason, message = event.get("reason", ""), event.get("message", "") or ""
    if reason == "FailedScheduling":
        return reason_for_scheduling(message, subject)
    if reason in ("Failed", "BackOff", "ErrImagePull") and any(k in message for k in IMAGE_PULL_REASONS):
        return f"{subject}'s image cannot be pulled there"
    return None


def reason_for_exception(exc: BaseException) -> str | None:
    """A reason to fail over from an error raised while starting; None to re-raise."""
    if isinstance(exc, ApiException):
        if exc.status == 403:
            return quota_reason(str(exc.body or exc.reason or ""))
        if exc.status in (0, 500, 502, 503, 504):
            return f"the apiserver failed ({exc.status} {exc.reason})"
        return None
    if isinstance(exc, UNREACHABLE):
        return f"cluster unreachable ({type(exc).__name__})"
    return None
