"""The operators' upstream manifests, made fit for operators running as local processes.

Pure functions over parsed YAML:
- CRDs: as shipped, optionally reduced to their storage version (an operator whose
  upstream install converts between versions with a webhook serves only that one here);
- webhook configurations: upstream points them at an in-cluster Service; here every
  webhook calls the operator's loopback port by URL with the cluster CA as ``caBundle``.
  Webhooks for API groups the operator does not serve in this cluster (for example
  JobSet's and Kueue's pod webhooks, Kueue's for integrations that are not enabled) are
  dropped, and system namespaces are left alone, as the upstream kustomizations do.
  Kueue's pod webhooks see only pods that carry a queue name (``POD_WEBHOOK_SELECTORS``):
  every other pod of the cluster is created without calling Kueue, even while it is down.
"""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

from ..components import LOOPBACK

#: Namespaces no operator webhook ever intercepts.
SYSTEM_NAMESPACES = ("kube-system",)
#: The pods an operator's pod webhooks see (operator -> objectSelector): Kueue only manages pods
#: that name a LocalQueue (notebook servers of clusters that queue them), so only those call it.
POD_WEBHOOK_SELECTORS = {"kueue": {"matchExpressions": [{"key": "kueue.x-k8s.io/queue-name",
                                                         "operator": "Exists"}]}}


def load_documents(path: Path) -> list[dict]:
    """Every non-empty YAML document of a manifest file."""
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def storage_version_only(crd: dict) -> dict:
    """The CRD with only its storage version served, and no conversion webhook."""
    out = copy.deepcopy(crd)
    spec = out["spec"]
    spec["versions"] = [v for v in spec["versions"] if v.get("storage")]
    spec.pop("conversion", None)
    return out


def url_webhooks(doc: dict, operator: str, port: int, ca_bundle: str, groups: set[str],
                 own_namespace: str) -> dict | None:
    """A Mutating/ValidatingWebhookConfiguration calling ``https://127.0.0.1:<port><path>``.

    Its name is prefixed with the operator's (upstream names are generic and collide);
    webhooks whose rules name an API group outside ``groups`` are dropped; ``None`` when
    none is left. ``ca_bundle`` is the base64 PEM of the CA that signed the operator's
    serving certificate.
    """
    kept = []
    for hook in doc.get("webhooks", []):
        rule_groups = {g for rule in hook.get("rules", []) for g in rule.get("apiGroups", [])}
        if not rule_groups or not rule_groups <= groups:
            continue
        hook = copy.deepcopy(hook)
        service = hook["clientConfig"].get("service") or {}
        path = service.get("path", "/")
        hook["clientConfig"] = {"url": f"https://{LOOPBACK}:{port}{path}", "caBundle": ca_bundle}
        hook.setdefault("namespaceSelector", {"matchExpressions": [{
            "key": "kubernetes.io/metadata.name", "operator": "NotIn",
            "values": [*SYSTEM_NAMESPACES, own_namespace]}]})
        if rule_groups == {""} and operator in POD_WEBHOOK_SELECTORS:
            hook.setdefault("objectSelector", POD_WEBHOOK_SELECTORS[operator])
        kept.append(hook)
    if not kept:
        return None
    return {"apiVersion": doc["apiVersion"], "kind": doc["kind"],
            "metadata": {"name": f"{operator}-{doc['metadata']['name']}"}, "webhooks": kept}
