"""Create (or confirm) what ``fedspawner join`` makes in a member cluster and issue the token.

Idempotent: an object that exists as join would make it is left alone and reported
``unchanged``; one join made earlier with other settings (a new quota, say) is replaced;
one of the same name that join did not make is never touched (JoinError says so).
"""

from __future__ import annotations

import asyncio
import base64
import time
from dataclasses import dataclass

from kubernetes_asyncio import client
from kubernetes_asyncio.client.rest import ApiException

from ..federation.quantity import QuantityError, parse_quantity
from . import join_manifests as m
from .join_kube import KINDS, JoinError, refused

TOKEN_SECRET_WAIT = 30.0


@dataclass(frozen=True)
class Outcome:
    kind: str
    name: str
    action: str  # created, unchanged, updated, exists (a namespace join did not make)

    def line(self) -> str:
        return f"{self.action:9} {self.kind} {self.name}"


def _plain(api: client.ApiClient, obj) -> dict:
    return api.sanitize_for_serialization(obj)


def _comparable(kind: str, obj: dict) -> dict:
    """The part of an object join decides, normalised (quantities as numbers, lists sorted)."""
    if kind in ("Role", "ClusterRole"):
        return {"rules": sorted((tuple(r.get("apiGroups") or []), tuple(sorted(r.get("resources") or [])),
                                 tuple(sorted(r.get("verbs") or []))) for r in obj.get("rules") or [])}
    if kind in ("RoleBinding", "ClusterRoleBinding"):
        return {"roleRef": obj.get("roleRef"), "subjects": obj.get("subjects")}
    if kind == "ResourceQuota":
        hard = (obj.get("spec") or {}).get("hard") or {}
        try:
            return {"hard": {k: parse_quantity(v) for k, v in hard.items()}}
        except QuantityError:
            return {"hard": hard}
    if kind == "Secret":
        return {"type": obj.get("type"),
                "account": ((obj.get("metadata") or {}).get("annotations") or {}).get(
                    "kubernetes.io/service-account.name")}
    return {}


def _made_by_join(obj: dict) -> bool:
    return ((obj.get("metadata") or {}).get("labels") or {}).get(m.MANAGED_BY) == m.JOIN_MANAGER


async def ensure_namespace(api: client.ApiClient, req: m.JoinRequest) -> Outcome:
    """Create the namespace, or accept the one that exists (join then never deletes it)."""
    kind = KINDS["Namespace"]
    try:
        existing = _plain(api, await kind.call(api, "read", "", req.namespace))
        return Outcome("Namespace", req.namespace, "unchanged" if _made_by_join(existing) else "exists")
    except ApiException as err:
        if err.status not in (403, 404):
            raise refused(err, f"reading namespace {req.namespace}") from None
    try:
        await kind.call(api, "create", "", m.namespace(req))
        return Outcome("Namespace", req.namespace, "created")
    except ApiException as err:
        if err.status == 409:
            return Outcome("Namespace", req.namespace, "exists")
        if err.status == 403:
            if await _works_in(api, req.namespace):  # a namespace admin: it exists, join may go on
                return Outcome("Namespace", req.namespace, "exists")
            raise JoinError(f"not allowed to create namespace {req.namespace}: ask the cluster's admin to "
                            "create it and make you its admin (then run join again), or run join with an "
                            "admin context") from None
        raise refused(err, f"creating namespace {req.namespace}") from None


async def _works_in(api: client.ApiClient, namespace: str) -> bool:
    """Whether the credential may manage service accounts in ``namespace`` (so it exists)."""
    try:
        await client.CoreV1Api(api).list_namespaced_service_account(namespace, limit=1)
        return True
    except ApiException:
        return False


async def apply_object(api: client.ApiClient, req: m.JoinRequest, manifest: dict) -> Outcome:
    kind_name, name = manifest["kind"], manifest["metadata"]["name"]
    kind = KINDS[kind_name]
    try:
        await kind.call(api, "create", req.namespace, manifest)
        return Outcome(kind_name, name, "created")
    except ApiException as err:
        if err.status != 409:
            raise refused(err, f"creating {kind_name} {name}") from None
    try:
        existing = _plain(api, await kind.call(api, "read", req.namespace, name))
    except ApiException as err:
        raise refused(err, f"reading {kind_name} {name}") from None
    if not _made_by_join(existing):
        where = f" in namespace {req.namespace}" if kind.namespaced else ""
        raise JoinError(f"{kind_name} {name}{where} exists and was not made by fedspawner join; "
                        "join leaves it alone: remove it or join another namespace")
    if _comparable(kind_name, existing) == _comparable(kind_name, manifest):
        return Outcome(kind_name, name, "unchanged")
    if kind_name == "Secret":  # a token Secret's data is the controller's: recreate rather than replace
        raise JoinError(f"Secret {name} in {req.namespace} is not a token of {m.HUB_ACCOUNT}; "
                        "run `fedspawner leave` first")
    manifest = {**manifest, "metadata": {**manifest["metadata"],
                                         "resourceVersion": existing["metadata"]["resourceVersion"]}}
    try:
        await kind.call(api, "replace", req.namespace, name, manifest)
    except ApiException as err:
        raise refused(err, f"updating {kind_name} {name}") from None
    return Outcome(kind_name, name, "updated")


async def issue_token(api: client.ApiClient, req: m.JoinRequest) -> str:
    """A bounded-lifetime token (TokenRequest), or the long-lived token Secret's token."""
    core = client.CoreV1Api(api)
    if req.token_seconds is not None:
        try:
            answer = await core.create_namespaced_service_account_token(m.HUB_ACCOUNT, req.namespace,
                                                                        m.token_request(req))
        except ApiException as err:
            raise refused(err, f"requesting a token for {m.HUB_ACCOUNT}") from None
        return answer.status.token
    deadline = time.monotonic() + TOKEN_SECRET_WAIT
    while time.monotonic() < deadline:
        try:
            secret = await core.read_namespaced_secret(m.TOKEN_SECRET, req.namespace)
        except ApiException as err:
            raise refused(err, f"reading Secret {m.TOKEN_SECRET}") from None
        if secret.data and secret.data.get("token"):
            return base64.b64decode(secret.data["token"]).decode()
        await asyncio.sleep(0.2)
    raise JoinError(f"the token Secret {m.TOKEN_SECRET} in {req.namespace} got no token within "
                    f"{TOKEN_SECRET_WAIT:.0f}s: is the cluster's token controller running? "
                    "(or use --token-duration instead)")


async def join(api: client.ApiClient, req: m.JoinRequest) -> tuple[list[Outcome], str]:
    """Make everything; returns what happened to each object and the hub's token."""
    outcomes = [await ensure_namespace(api, req)]
    for manifest in m.member_objects(req):
        outcomes.append(await apply_object(api, req, manifest))
    return outcomes, await issue_token(api, req)
