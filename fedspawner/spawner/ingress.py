"""Reaching a server through the member cluster's ingress (``access: ingress``).

KubeSpawner creates a Service for the pod (``services_enabled``); this adds an Ingress
routing ``https://<host>/user/<name>/...`` to it, owned by the pod so that Kubernetes
removes both with the pod. The hub's proxy then targets ``<scheme>://<host>``.
"""

from __future__ import annotations

from kubernetes_asyncio import client
from kubernetes_asyncio.client.rest import ApiException

from ..federation.config import IngressSettings


def ingress_manifest(*, name: str, namespace: str, settings: IngressSettings, path: str, service: str,
                     port: int, labels: dict[str, str], owner_reference: dict) -> dict:
    """The Ingress for one server (pure)."""
    spec: dict = {"rules": [{"host": settings.host, "http": {"paths": [{
        "path": path, "pathType": "Prefix",
        "backend": {"service": {"name": service, "port": {"number": port}}}}]}}]}
    if settings.class_name:
        spec["ingressClassName"] = settings.class_name
    if settings.tls_secret:
        spec["tls"] = [{"hosts": [settings.host], "secretName": settings.tls_secret}]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": name, "namespace": namespace, "labels": dict(labels),
                         "annotations": dict(settings.annotations), "ownerReferences": [owner_reference]},
            "spec": spec}


def ingress_url(settings: IngressSettings) -> str:
    return f"{settings.scheme}://{settings.host}"


async def apply_ingress(api: client.ApiClient, manifest: dict) -> None:
    """Create the Ingress, replacing one left by an earlier server of the same name."""
    networking = client.NetworkingV1Api(api)
    meta = manifest["metadata"]
    try:
        await networking.create_namespaced_ingress(meta["namespace"], manifest)
    except ApiException as err:
        if err.status != 409:
            raise
        await networking.replace_namespaced_ingress(meta["name"], meta["namespace"], manifest)
