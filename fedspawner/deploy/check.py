"""``fedspawner join --check``: what a member-cluster credential can and cannot do, from the hub's side.

Asks the apiserver (SelfSubjectAccessReview for every permission in ``federation.rbac``,
SelfSubjectRulesReview for rights beyond them) and makes real calls (list pods, a
dry-run pod create, list quotas, list nodes), then says what each gap means for the
hub: no node list → GPU numbers are "up to", from quota and declared capacity; no
quota → nothing caps the hub's share; cannot create pods → the spawner is unusable.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass

from kubernetes_asyncio import client
from kubernetes_asyncio.client.rest import ApiException

from ..federation.gpus import node_gpu_offers
from ..federation.rbac import HUB_PERMISSIONS, INVENTORY_PERMISSIONS, Permission

OK, MISSING, LIMITED, NOTE = "ok", "MISSING", "limited", "note"
PROBE_POD = "fedspawner-join-check"


@dataclass(frozen=True)
class Finding:
    level: str   # ok, MISSING (something required), limited (optional), note
    what: str
    consequence: str = ""

    def line(self) -> str:
        return f"  {self.level:8} {self.what}" + (f" → {self.consequence}" if self.consequence else "")


async def allowed(api: client.ApiClient, namespace: str, group: str, resource: str, verb: str) -> bool:
    """SelfSubjectAccessReview: may this credential ``verb`` ``resource`` (``pods/log`` style)?"""
    name, _, sub = resource.partition("/")
    attrs = {"namespace": namespace, "verb": verb, "group": group, "resource": name}
    if sub:
        attrs["subresource"] = sub
    review = await client.AuthorizationV1Api(api).create_self_subject_access_review(
        {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
         "spec": {"resourceAttributes": attrs}})
    return bool(review.status.allowed)


async def check_permissions(api: client.ApiClient, namespace: str, permissions: tuple[Permission, ...],
                            scope: str) -> list[Finding]:
    findings = []
    for p in permissions:
        denied = [v for v in p.verbs if not await allowed(api, namespace, p.group, p.resource, v)]
        what = f"{'/'.join(p.verbs) if not denied else '/'.join(denied)} {p.resource}" + \
            (f".{p.group}" if p.group else "") + f" {scope}"
        if not denied:
            findings.append(Finding(OK, what))
        else:
            findings.append(Finding(MISSING if p.required else LIMITED, f"cannot {what}",
                                    f"{p.without} (needed by the {p.needed_by})"))
    return findings


async def excess_rights(api: client.ApiClient, namespace: str) -> list[Finding]:
    """SelfSubjectRulesReview: wildcard rights in the namespace are more than the hub needs."""
    review = await client.AuthorizationV1Api(api).create_self_subject_rules_review(
        {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectRulesReview", "spec": {"namespace": namespace}})
    wild = [r for r in review.status.resource_rules or [] if "*" in (r.verbs or []) or "*" in (r.resources or [])]
    if not wild:
        return []
    return [Finding(NOTE, f"the credential holds wildcard rights in {namespace}",
                    "more than the hub needs; `fedspawner join` grants exactly the rules above")]


def _probe_pod(namespace: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": PROBE_POD, "namespace": namespace},
            "spec": {"restartPolicy": "Never", "containers": [{
                "name": "probe", "image": "busybox", "command": ["true"],
                "resources": {"requests": {"cpu": "1m", "memory": "1Mi"},
                              "limits": {"cpu": "1m", "memory": "1Mi"}}}]}}


async def real_calls(api: client.ApiClient, namespace: str) -> list[Finding]:
    """Calls the hub really makes: they catch what a review cannot (admission, quota)."""
    core = client.CoreV1Api(api)
    findings = []
    try:
        await core.create_namespaced_pod(namespace, _probe_pod(namespace), dry_run="All")
        findings.append(Finding(OK, f"a pod in {namespace} is accepted (dry run)"))
    except ApiException as err:
        reason = _reason(err)
        findings.append(Finding(MISSING, f"a pod in {namespace} is refused ({err.status}: {reason})",
                                "servers and jobs cannot run here: the spawner is unusable"))
    try:
        quotas = (await core.list_namespaced_resource_quota(namespace)).items
    except ApiException:
        quotas = None
    if quotas is None:
        findings.append(Finding(LIMITED, "the namespace's quota cannot be read",
                                "GPU headroom is unknown; numbers come from declared capacity only"))
    elif not quotas:
        findings.append(Finding(NOTE, f"no ResourceQuota in {namespace}",
                                "nothing caps the hub's share here; without a node view, GPU numbers come "
                                "from the entry's declared capacity alone (set capacity:, or join with --quota)"))
    for q in quotas or []:
        hard, used = (q.status.hard or q.spec.hard or {}), (q.status.used or {})
        shown = ", ".join(f"{k}={v} (used {used.get(k, '0')})" for k, v in sorted(hard.items()))
        findings.append(Finding(OK, f"quota {q.metadata.name}: {shown}", "caps what the hub can get here"))
    return findings


async def node_view(api: client.ApiClient) -> Finding:
    """Can the credential list nodes, and what GPUs do they offer?"""
    try:
        nodes = (await client.CoreV1Api(api).list_node()).items
    except ApiException as err:
        if err.status != 403:
            raise
        return Finding(LIMITED, "nodes are not visible",
                       'GPU numbers are "up to", from quota and declared capacity; set capacity: in the '
                       "entry, or ask the member's admin to join with --inventory-reader")
    gpus: Counter[str] = Counter()
    for node in nodes:
        plain = api.sanitize_for_serialization(node)
        for offer in node_gpu_offers(plain["metadata"].get("labels") or {},
                                     (plain.get("status") or {}).get("allocatable") or {},
                                     (plain.get("spec") or {}).get("taints") or []):
            gpus[offer.gpu.name] += offer.count
    listed = ", ".join(f"{n} × {t}" for t, n in sorted(gpus.items())) or "no GPUs"
    return Finding(OK, f"{len(nodes)} nodes visible ({listed})", "GPU numbers are exact")


def _reason(err: ApiException) -> str:
    try:
        return json.loads(err.body).get("message", err.reason)
    except (TypeError, ValueError):
        return str(err.reason)


async def check(api: client.ApiClient, namespace: str, other_namespace: str = "default") -> list[Finding]:
    """Every finding for the credential behind ``api`` in ``namespace``."""
    findings = await check_permissions(api, namespace, HUB_PERMISSIONS, f"in {namespace}")
    findings += await excess_rights(api, namespace)
    findings += await real_calls(api, namespace)
    findings.append(await node_view(api))
    findings += await check_permissions(api, "", INVENTORY_PERMISSIONS[1:], "in all namespaces")
    if other_namespace != namespace and await allowed(api, other_namespace, "", "pods", "create"):
        findings.append(Finding(NOTE, f"can also create pods in {other_namespace}",
                                "the credential reaches beyond its namespace; more than the hub needs"))
    return findings


def report(findings: list[Finding], where: str) -> tuple[str, int]:
    """The text for the admin and the exit status (1 when something required is missing)."""
    missing = [f for f in findings if f.level == MISSING]
    lines = [f"credential {where}:", *(f.line() for f in findings)]
    if missing:
        lines.append(f"NOT USABLE: {len(missing)} required right(s) missing (see MISSING above); "
                     "re-run `fedspawner join` on the member cluster or ask its admin")
    else:
        exact = any(f.level == OK and "nodes visible" in f.what for f in findings)
        lines.append("usable: " + ("exact GPU numbers from nodes" if exact else
                                   'namespace view only, GPU numbers are "up to" (quota, declared capacity)'))
    return "\n".join(lines), 1 if missing else 0
