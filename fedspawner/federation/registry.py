"""The federation at run time: member clusters, one API client each, their inventories.

One registry per process (the hub, the gateway), built from ``c.Federation``. Each
member cluster gets its own ``ApiClient`` built from its own kubeconfig context or the
in-cluster service account; nothing ever touches kubernetes_asyncio's process-global
default configuration.
"""

from __future__ import annotations

import asyncio
import time

from kubernetes_asyncio import client, config as kube_config

from . import gpus
from .config import Federation, MemberCluster
from .inventory import ClusterInventory
from .model import Decision, GpuScheduling, InventorySnapshot, PlacementRequest
from .placement import place


async def api_client_for(member: MemberCluster, context: str | None = None) -> client.ApiClient:
    """A fresh API client for one member cluster (never the global default)."""
    if member.in_cluster and context is None:
        cfg = client.Configuration()
        kube_config.load_incluster_config(client_configuration=cfg)
        return client.ApiClient(configuration=cfg)
    return await kube_config.new_client_from_config(config_file=member.kubeconfig,
                                                    context=context or member.context, persist_config=False)


class ClusterRegistry:
    """Member clusters with their clients and live inventories."""

    _instance: "ClusterRegistry | None" = None

    def __init__(self, federation: Federation):
        self.federation = federation
        self.members: dict[str, MemberCluster] = {m.name: m for m in federation.member_clusters()}
        self.mappings = tuple(gpus.LabelMapping(**m) for m in federation.label_mappings)
        self.clients: dict[str, client.ApiClient] = {}
        self.inventories: dict[str, ClusterInventory] = {}
        self.version = 0
        self._changed = asyncio.Event()
        self._started = False
        self._start_lock = asyncio.Lock()

    @classmethod
    def shared(cls, config=None) -> "ClusterRegistry":
        """The process's registry, created from ``config`` on first use."""
        if cls._instance is None:
            cls._instance = cls(Federation(config=config))
        return cls._instance

    @classmethod
    async def reset_shared(cls) -> None:
        """Stop and forget the process's registry (tests, hub shutdown)."""
        if cls._instance is not None:
            await cls._instance.stop()
        cls._instance = None

    async def start(self) -> None:
        """Create clients and start watching every member (idempotent)."""
        async with self._start_lock:
            if self._started:
                return
            for member in self.members.values():
                hub_api = await api_client_for(member)
                reader = await api_client_for(member, member.inventory_context) if member.inventory_context else None
                self.clients[member.name] = hub_api
                inventory = ClusterInventory(member, hub_api, reader, self.mappings,
                                             health_interval=self.federation.health_interval,
                                             health_timeout=self.federation.health_timeout,
                                             on_change=self._on_change)
                self.inventories[member.name] = inventory
                await inventory.start()
            self._started = True

    async def stop(self) -> None:
        """Stop watching and close every client (bounded: an unreachable cluster cannot hold it up)."""
        async def bounded(coro, seconds: float) -> None:
            try:
                await asyncio.wait_for(coro, seconds)
            except (asyncio.TimeoutError, OSError):
                pass

        for inventory in self.inventories.values():
            await bounded(inventory.stop(), 10)
            if inventory.reader_api is not None:
                await bounded(inventory.reader_api.close(), 5)
        for api in self.clients.values():
            await bounded(api.close(), 5)
        self.inventories, self.clients, self._started = {}, {}, False

    async def wait_ready(self, timeout: float = 10.0) -> None:
        """Wait until every reachable member's inventory has loaded once."""
        async def one(inv: ClusterInventory):
            try:
                await asyncio.wait_for(inv.ready.wait(), timeout)
            except asyncio.TimeoutError:
                pass  # an unreachable cluster is shown as down, not waited for

        await asyncio.gather(*(one(i) for i in self.inventories.values()))

    def _on_change(self, _name: str) -> None:
        self.version += 1
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_for_change(self, since: int, timeout: float) -> int:
        """Return once the inventory version passes ``since`` (or on timeout)."""
        deadline = time.monotonic() + timeout
        while self.version <= since:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except asyncio.TimeoutError:
                break
        return self.version

    def api(self, cluster: str) -> client.ApiClient:
        return self.clients[cluster]

    def snapshot(self) -> InventorySnapshot:
        return InventorySnapshot(clusters=tuple(inv.snapshot() for inv in self.inventories.values()),
                                 taken_at=time.time())

    def place(self, request: PlacementRequest) -> Decision:
        return place(request, self.snapshot())

    def scheduling(self, cluster: str, gpu_type: str) -> GpuScheduling:
        """Resource, node affinity and tolerations for ``gpu_type`` on ``cluster``.

        From the offers seen on the cluster's nodes when visible (every node offering
        the type is allowed); otherwise from the cluster's declared labelling convention.
        """
        inventory = self.inventories[cluster]
        offers = list({o: None for node in inventory.nodes.values() for o in node.offers
                       if o.gpu.name == gpu_type})
        if not offers:
            member = self.members[cluster]
            offers = [gpus.scheduling_in_cluster(gpu_type, member.gpu_convention, inventory.mappings)]
        tolerations = tuple({str(sorted(t.items())): dict(t) for o in offers for t in o.tolerations}.values())
        return GpuScheduling(resource=offers[0].resource, node_affinity=gpus.node_affinity(offers) or None,
                             tolerations=tolerations)
