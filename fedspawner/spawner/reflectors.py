"""KubeSpawner's pod and event reflectors, bound to one member cluster's client.

KubeSpawner's reflectors build their API client from the process-global default
configuration; these take the member cluster's own ``ApiClient`` instead.

KubeSpawner's reflector gives up after about a minute of failures (its backoff passes
30 s) and is then never restarted: the spawners of that cluster wait on a copy that no
longer changes, and a spawn there hangs until its timeout with an empty message. A
member cluster is often away for longer than that (an apiserver restart, the hub's
RoleBinding removed for a while), so these reflectors start watching again instead,
every ``RESTART_DELAY`` seconds, until they are stopped.
"""

from __future__ import annotations

import asyncio

from kubernetes_asyncio import client
from kubespawner.spawner import EventReflector, PodReflector

#: Seconds between the end of a reflector's given-up watch and its next attempt.
RESTART_DELAY = 5.0


class _ClusterClientMixin:
    def __init__(self, *args, api_client: client.ApiClient, cluster: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.cluster = cluster
        self.api = getattr(client, self.api_group_name)(api_client)
        self.restarts = 0

    async def _watch_and_update(self):
        """KubeSpawner's list-and-watch loop, started again whenever it gives up (until stopped)."""
        while True:
            await super()._watch_and_update()
            if self._stopping:
                return
            self.restarts += 1
            self.log.warning("%s reflector of cluster %s gave up; watching again in %.0f s (attempt %d)",
                             self.kind, self.cluster, RESTART_DELAY, self.restarts)
            await asyncio.sleep(RESTART_DELAY)


class ClusterPodReflector(_ClusterClientMixin, PodReflector):
    """Pods of one namespace on one member cluster."""


class ClusterEventReflector(_ClusterClientMixin, EventReflector):
    """Pod events of one namespace on one member cluster."""
