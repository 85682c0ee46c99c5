"""``fedspawner leave``: remove exactly what ``fedspawner join`` made for one namespace.

Objects are found by join's labels (``app.kubernetes.io/managed-by=fedspawner-join`` and
the joined namespace), so anything else in the namespace — servers, jobs, objects the
cluster's admin made — is never touched. The namespace itself goes only if join created
it and the admin passes ``--delete-namespace`` (that removes everything in it).
"""

from __future__ import annotations

from kubernetes_asyncio import client
from kubernetes_asyncio.client.rest import ApiException

from . import join_manifests as m
from .join_apply import Outcome
from .join_kube import KINDS, REMOVAL_ORDER, JoinError, refused


async def leave(api: client.ApiClient, namespace: str, delete_namespace: bool = False) -> list[Outcome]:
    """Delete join's objects for ``namespace``; returns one outcome per object found."""
    outcomes = []
    for kind_name in REMOVAL_ORDER:
        kind = KINDS[kind_name]
        if kind_name == "Namespace":
            outcomes += await _namespace(api, namespace, delete_namespace)
            continue
        try:
            found = await kind.call(api, "list", namespace, label_selector=m.selector(namespace))
        except ApiException as err:
            if err.status == 404 and kind.namespaced:
                continue  # the namespace is gone already
            raise refused(err, f"listing {kind_name}s made by join") from None
        for obj in found.items:
            try:
                await kind.call(api, "delete", namespace, obj.metadata.name)
            except ApiException as err:
                if err.status != 404:
                    raise refused(err, f"deleting {kind_name} {obj.metadata.name}") from None
            outcomes.append(Outcome(kind_name, obj.metadata.name, "deleted"))
    return outcomes


async def _namespace(api: client.ApiClient, namespace: str, delete: bool) -> list[Outcome]:
    kind = KINDS["Namespace"]
    try:
        ns = await kind.call(api, "read", "", namespace)
    except ApiException as err:
        if err.status == 404:
            return []
        raise refused(err, f"reading namespace {namespace}") from None
    if (ns.metadata.labels or {}).get(m.MANAGED_BY) != m.JOIN_MANAGER:
        return []  # it existed before join: never ours to remove
    if not delete:
        return [Outcome("Namespace", namespace, "kept")]
    try:
        await kind.call(api, "delete", "", namespace)
    except ApiException as err:
        raise refused(err, f"deleting namespace {namespace}") from None
    return [Outcome("Namespace", namespace, "deleted")]


def summary(outcomes: list[Outcome], namespace: str) -> str:
    lines = [o.line() for o in outcomes]
    if not any(o.action == "deleted" for o in outcomes):
        lines.append(f"nothing to remove: fedspawner join made nothing for namespace {namespace} here")
    if any(o.kind == "Namespace" and o.action == "kept" for o in outcomes):
        lines.append(f"namespace {namespace} was created by join and is kept with what runs in it; "
                     "pass --delete-namespace to remove it and everything in it")
    return "\n".join(lines)


__all__ = ["leave", "summary", "JoinError"]
