"""When to give up on a cluster and try the next one (pure functions).

A start fails over on what says "not here, not now": the scheduler cannot place the
pod (too few GPUs, taints, affinity), the namespace quota rejects it, the image cannot
be pulled, or the apiserver does not answer. Other errors (a bug in a profile, say)
end the start with their own message.
"""

from __future__ import annotations

import asyncio
import re

import aiohttp
from kubernetes_asyncio.client.rest import ApiException


class Failover(Exception):
    """This cluster will not run the server now; the message says why, for people."""


_INSUFFICIENT = re.compile(r"Insufficient ([\w./-]*\w)")
# The scheduler says these while volumes are still being bound; it retries by itself.
_TRANSIENT = ("unbound immediate PersistentVolumeClaims", "persistentvolumeclaim", "waiting for ephemeral volume")
_IMAGE_PULL = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "Back-off pulling image")


def reason_for_event(event: dict) -> str | None:
    """A reason to fail over, from one of the pod's events; None if it is harmless."""
    reason, message = event.get("reason", ""), event.get("message", "") or ""
    if reason == "FailedScheduling":
        if any(t in message for t in _TRANSIENT):
            return None
        short = _INSUFFICIENT.findall(message)
        if short:
            return "no node has enough " + ", ".join(dict.fromkeys(short)) + " free now"
        if "untolerated taint" in message:
            return "its GPU nodes are tainted and the server does not tolerate them"
        if "didn't match Pod's node affinity" in message or "node affinity/selector" in message:
            return "no node matches the requested GPU type now"
        return "the scheduler cannot place the server now (" + message.split(". ")[0][:160] + ")"
    if reason in ("Failed", "BackOff", "ErrImagePull") and any(k in message for k in _IMAGE_PULL):
        return "the server image cannot be pulled there"
    return None


def reason_for_exception(exc: BaseException) -> str | None:
    """A reason to fail over, from an error raised while starting; None to re-raise."""
    if isinstance(exc, ApiException):
        body = str(exc.body or exc.reason or "")
        if exc.status == 403 and "exceeded quota" in body:
            match = re.search(r"exceeded quota: ([^,]+), requested: ([^,]+), used: ([^,]+), limited: ([^\"]+)", body)
            if match:
                name, requested, used, limited = match.groups()
                return f"over its quota {name} (asked {requested}, in use {used}, limit {limited})"
            return "over the namespace quota"
        if exc.status in (0, 500, 502, 503, 504):
            return f"the apiserver failed ({exc.status} {exc.reason})"
        return None
    if isinstance(exc, (aiohttp.ClientError, asyncio.TimeoutError, ConnectionError, OSError)):
        return f"cluster unreachable ({type(exc).__name__})"
    if isinstance(exc, TimeoutError):
        return "did not start in time"
    return None
