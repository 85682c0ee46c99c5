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

from .budgets import Holding, budget_view, over_budget
from .config import Federation, FederationConfigError, MemberCluster
from .inventory import ClusterInventory
from .model import Decision, GpuScheduling, InventorySnapshot, PlacementRequest
from .placement import place
from .warm import WarmPool


async def api_client_for(member: MemberCluster, context: str | None = None) -> client.ApiClient:
    """A fresh API client for one member cluster (never the global default).

    A credential that cannot be loaded (a context missing from the kubeconfig, no
    in-cluster service account) is a configuration mistake: FederationConfigError.
    """
    try:
        if member.in_cluster and context is None:
            cfg = client.Configuration()
            kube_config.load_incluster_config(client_configuration=cfg)
            return client.ApiClient(configuration=cfg)
        return await kube_config.new_client_from_config(config_file=member.kubeconfig,
                                                        context=context or member.context, persist_config=False)
    except (kube_config.ConfigException, OSError) as err:
        where = "the in-cluster service account" if member.in_cluster and context is None else \
            f"context {context or member.context or '(current)'} of {member.kubeconfig}"
        raise FederationConfigError(f"cluster {member.name}: cannot load {where}: {err}") from None


class ClusterRegistry:
    """Member clusters with their clients and live inventories."""

    _instance: "ClusterRegistry | None" = None

    def __init__(self, federation: Federation):
        self.federation = federation
        self.members: dict[str, MemberCluster] = {m.name: m for m in federation.validate()}
        self.mappings = federation.parsed_label_mappings()
        self.warm = WarmPool(self, federation.parsed_warm_slots(list(self.members.values())))
        self.budgets = federation.parsed_gpu_budgets()
        self.clients: dict[str, client.ApiClient] = {}
        self.inventories: dict[str, ClusterInventory] = {}
        self.version = 0
        self._changed = asyncio.Event()
        self._started = False
        self._started_at = 0.0
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
        """Create clients and start watching every member (idempotent; on failure
        nothing is left running)."""
        async with self._start_lock:
            if self._started:
                return
            try:
                for member in self.members.values():
                    hub_api = await api_client_for(member)
                    self.clients[member.name] = hub_api
                    reader = await api_client_for(member, member.inventory_context) \
                        if member.inventory_context else None
                    inventory = ClusterInventory(member, hub_api, reader, self.mappings,
                                                 health_interval=self.federation.health_interval,
                                                 health_timeout=self.federation.health_timeout,
                                                 on_change=self._on_change)
                    self.inventories[member.name] = inventory
                    await inventory.start()
            except BaseException:
                await self.stop()
                raise
            self._started, self._started_at = True, time.monotonic()
            self.warm.start()

    async def stop(self) -> None:
        """Stop watching and close every client (bounded: an unreachable cluster cannot hold it up)."""
        async def bounded(coro, seconds: float) -> None:
            try:
                await asyncio.wait_for(coro, seconds)
            except (asyncio.TimeoutError, OSError):
                pass

        await bounded(self.warm.stop(), 5)
        for inventory in self.inventories.values():
            await bounded(inventory.stop(), 10)
            if inventory.reader_api is not None:
                await bounded(inventory.reader_api.close(), 5)
        for api in self.clients.values():
            await bounded(api.close(), 5)
        self.inventories, self.clients, self._started = {}, {}, False

    async def wait_ready(self, grace: float = 5.0) -> None:
        """Right after start, wait (up to ``grace`` seconds from the start) until every
        member's inventory has loaded once and its health was probed once; later calls return at once, so a cluster
        that has been down since start-up does not slow every request down."""
        left = self._started_at + grace - time.monotonic()
        pending = [event.wait() for inv in self.inventories.values() for event in (inv.ready, inv.checked)
                   if not event.is_set()]
        if left > 0 and pending:
            await asyncio.wait([asyncio.ensure_future(p) for p in pending], timeout=left)

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

    def place(self, request: PlacementRequest, snapshot: InventorySnapshot | None = None) -> Decision:
        """Rank the clusters for ``request`` on ``snapshot`` (default: the inventory now)."""
        return place(request, snapshot or self.snapshot())

    # ---- GPU budgets ---------------------------------------------------------------------------
    def held_by(self, user: str) -> list[Holding]:
        """What ``user``'s servers and jobs hold on every member cluster (a cluster that is down
        counts with what it was last seen holding)."""
        return [h for inventory in self.inventories.values() for h in inventory.held_by(user)]

    def budget(self, user: str, groups: frozenset[str]) -> dict:
        """``user``'s GPU budget, use and what is left (``budgets.budget_view``)."""
        return budget_view(self.budgets.limit_for(user, groups), self.held_by(user))

    def over_budget(self, user: str, groups: frozenset[str], asking: int, what: str) -> str | None:
        """Why ``asking`` more GPUs would take ``user`` over budget (a message for them), or None."""
        limit = self.budgets.limit_for(user, groups)
        return None if limit is None else over_budget(limit, self.held_by(user), asking, what)

    def scheduling(self, cluster: str, gpu_type: str) -> GpuScheduling:
        """Resource, node affinity and tolerations for ``gpu_type`` on ``cluster``."""
        return self.inventories[cluster].scheduling(gpu_type)
