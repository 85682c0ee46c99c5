"""Whether a member cluster can do what the hub needs now: one cheap, authorised call.

``GET /version`` answers any caller, so it says nothing about the hub's rights: a cluster
whose RoleBinding was removed would look healthy while every spawn and submission fails.
The probe lists the hub's own namespace's pods instead (metadata only, one item): it
needs the apiserver up *and* the hub's credential allowed in its namespace, and costs
about as much as ``/version``. ``reason`` turns a failed probe into words for people (the
launch form and ``/clusters`` show it after "down: ").
"""

from __future__ import annotations

import asyncio
import json

from kubernetes_asyncio import client
from kubernetes_asyncio.client.rest import ApiException

from .watch import raise_for_status

_METADATA = "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io,application/json"


async def probe(api: client.ApiClient, namespace: str, timeout: float) -> None:
    """List one pod of ``namespace`` (metadata only); raises what went wrong (ApiException,
    asyncio.TimeoutError, network errors)."""
    async def call() -> None:
        resp = await api.call_api(f"/api/v1/namespaces/{namespace}/pods", "GET", query_params=[("limit", "1")],
                                  header_params={"Accept": _METADATA}, auth_settings=["BearerToken"],
                                  _preload_content=False, _request_timeout=timeout)
        body = await resp.read()
        resp.release()
        raise_for_status(resp.status, body)
    await asyncio.wait_for(call(), timeout)


def refused(err: BaseException) -> bool:
    """Whether the apiserver answered but refused the hub's credential (no point in waiting for a
    second failure: nothing the hub does there can work)."""
    return isinstance(err, ApiException) and err.status in (401, 403)


def reason(err: BaseException, namespace: str) -> str:
    """Why the cluster is down, in words (after "down: ")."""
    if isinstance(err, asyncio.TimeoutError):
        return "apiserver did not answer in time"
    if isinstance(err, ApiException):
        detail = _message(err)
        if err.status == 403:
            return (f"the hub's credential may not list pods in namespace {namespace} ({detail}); "
                    "its Role or RoleBinding there may have been removed — ask the cluster's admins to "
                    "restore it (`fedspawner join --check` shows what is missing)")
        if err.status == 401:
            return (f"the apiserver refused the hub's credential ({detail}); its token may have expired "
                    "or been revoked")
        return f"apiserver answered HTTP {err.status} ({detail})"
    return f"apiserver unreachable ({type(err).__name__})"


def _message(err: ApiException) -> str:
    try:
        message = json.loads(err.body or "").get("message")
    except (ValueError, AttributeError):
        message = None
    return str(message or err.reason or f"HTTP {err.status}")[:200]
