"""KubeSpawner's pod and event reflectors, bound to one member cluster's client.

KubeSpawner's reflectors build their API client from the process-global default
configuration; these take the member cluster's own ``ApiClient`` instead.
"""

from __future__ import annotations

from kubernetes_asyncio import client
from kubespawner.spawner import EventReflector, PodReflector


class _ClusterClientMixin:
    def __init__(self, *args, api_client: client.ApiClient, cluster: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.cluster = cluster
        self.api = getattr(client, self.api_group_name)(api_client)


class ClusterPodReflector(_ClusterClientMixin, PodReflector):
    """Pods of one namespace on one member cluster."""


class ClusterEventReflector(_ClusterClientMixin, EventReflector):
    """Pod events of one namespace on one member cluster."""
