"""``access: ingress``: the proxy reaches the server through the member cluster's ingress.

KubeSpawner creates a Service for the pod (``services_enabled``); this adds an Ingress
routing ``https://<host>/user/<name>/...`` to it, owned by the pod so that Kubernetes
removes both with the pod. The hub's proxy then targets ``<scheme>://<host>``.
"""

from __future__ import annotations

from kubernetes_asyncio import client
from kubernetes_asyncio.client.rest import ApiException

from ...federation.config import IngressSettings
from ...federation.model import ACCESS_INGRESS
from ...federation.registry import ClusterRegistry
from .base import Access


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


class Ingress(Access):
    """A Service and an Ingress per server, made on the server's cluster."""

    name = ACCESS_INGRESS
    hedgeable = False

    def prepare(self, spawner) -> None:
        spawner.services_enabled = True  # KubeSpawner creates the Service the Ingress targets

    async def url(self, spawner, pod_url: str) -> str:
        pod = spawner.pod_reflector.pods[f"{spawner.namespace}/{spawner.pod_name}"]
        owner = {"apiVersion": "v1", "kind": "Pod", "name": spawner.pod_name, "uid": pod["metadata"]["uid"],
                 "blockOwnerDeletion": True}
        settings = spawner.member.ingress
        await apply_ingress(ClusterRegistry.shared(spawner.config).api(spawner.cluster_name), ingress_manifest(
            name=spawner.pod_name, namespace=spawner.namespace, settings=settings, path=spawner._server_path(),
            service=spawner.pod_name, port=spawner.port, labels=spawner._build_common_labels({}),
            owner_reference=owner))
        url = ingress_url(settings)
        spawner._narrate(f"{spawner.cluster_name}: reached through its ingress at {url}")
        return url
