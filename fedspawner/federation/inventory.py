"""Live inventory of one member cluster: GPUs by canonical type, CPU, memory, health.

Two views, chosen by what the credential may see:

- **nodes** (the credential, or the cluster's ``inventory_context``, may watch nodes and
  pods): exact numbers — allocatable minus what running pods request, per node.
- **namespace** (the common case in a real federation: the hub may act only in its own
  namespace): upper bounds from the namespace's ResourceQuota and the admin-declared
  capacity minus the hub's own usage, said as such ("up to 4 free, from quota").

In both views the hub's ResourceQuota caps what it can get, and ``FailedScheduling``
events on the hub's own pods mark a GPU type as recently full. Everything comes from
watches; a change reaches the snapshot within milliseconds. A health probe notices an
unreachable apiserver within a few seconds and the watches recover by themselves.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, defaultdict
from typing import Callable

from kubernetes_asyncio import client

from . import aggregate, gpus, health
from .budgets import Holding
from .config import MemberCluster
from .images import image_key, image_keys
from .model import (GPU_TYPE_LABEL, JOB_ID_LABEL, JOB_NAME_LABEL, NODE_LIFECYCLE_TAINTS, OWNER_NAME_ANNOTATION,
                    SERVER_NAME_ANNOTATION, SERVER_USER_ANNOTATION, SOURCE_DECLARED, SOURCE_QUOTA, VISIBILITY_NAMESPACE,
                    VISIBILITY_NODES, VISIBILITY_UNKNOWN, ClusterSnapshot, GpuAvailability, GpuScheduling)
from .placement import RECENTLY_FULL_S
from .quantity import QuantityError, cpu_millis, units
from .warm import WARM_LABEL
from .watch import ResourceWatch, WatchForbidden

log = logging.getLogger(__name__)

ACTIVE_PODS = "spec.nodeName!=,status.phase!=Succeeded,status.phase!=Failed"
#: Seconds an image a hub pod started from counts as "pulled here recently".
RECENT_IMAGE_S = 6 * 3600.0


def pod_requests(pod: dict) -> dict[str, int]:
    """What a pod asks of its node: ``cpu`` in millicores, ``memory`` in bytes, and
    extended resources in units (limits count where requests are absent)."""
    def container_sum(containers):
        total: dict[str, int] = defaultdict(int)
        for c in containers or []:
            res = c.get("resources") or {}
            asked = {**(res.get("limits") or {}), **(res.get("requests") or {})}
            for name, qty in asked.items():
                try:
                    total[name] += cpu_millis(qty) if name == "cpu" else units(qty)
                except QuantityError:
                    continue
        return total

    spec = pod.get("spec") or {}
    total = container_sum(spec.get("containers"))
    for init in spec.get("initContainers") or []:
        for name, value in container_sum([init]).items():
            total[name] = max(total[name], value)
    return dict(total)


_NOT_GPUS = ("cpu", "memory", "ephemeral-storage", "pods")


def pod_holding(pod: dict, cluster: str) -> tuple[str, Holding] | None:
    """``(owner, Holding)`` for a pod of the federation holding GPUs (it carries the GPU-type label),
    else None. The owner is a job's owner or a notebook server's user, from the pod's annotations."""
    meta = pod.get("metadata") or {}
    labels, notes = meta.get("labels") or {}, meta.get("annotations") or {}
    if not labels.get(GPU_TYPE_LABEL):
        return None
    gpus_held = sum(v for k, v in pod_requests(pod).items() if k not in _NOT_GPUS and not k.startswith("hugepages-"))
    if notes.get(OWNER_NAME_ANNOTATION):
        name, suffix = labels.get(JOB_NAME_LABEL, "?"), "-" + labels.get(JOB_ID_LABEL, "")[2:]
        name = name.removesuffix(suffix) if len(suffix) > 1 else name  # as the user named it
        return notes[OWNER_NAME_ANNOTATION], Holding(cluster, f"job {name}", gpus_held)
    if notes.get(SERVER_USER_ANNOTATION):
        server = notes.get(SERVER_NAME_ANNOTATION)
        return notes[SERVER_USER_ANNOTATION], Holding(cluster, f"server '{server}'" if server else "server",
                                                      gpus_held)
    return None


def _is_active(pod: dict) -> bool:
    """Does the pod hold resources others cannot have? (The hub's warm slots are its users'.)"""
    if WARM_LABEL in ((pod.get("metadata") or {}).get("labels") or {}):
        return False
    return (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")


def node_unusable(node: dict) -> str:
    """Why no new pod can run on ``node`` (a Node as JSON) now — "not ready", "unreachable",
    "cordoned", … — or "" when it can. The node controller's taints count even while the
    Ready condition already says True again (they are lifted a moment later)."""
    spec, status = node.get("spec") or {}, node.get("status") or {}
    for taint in spec.get("taints") or []:
        if taint.get("key") in NODE_LIFECYCLE_TAINTS and taint.get("effect") in ("NoSchedule", "NoExecute"):
            return NODE_LIFECYCLE_TAINTS[taint["key"]]
    ready = next((c.get("status") for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    if ready != "True":
        return "unreachable" if ready == "Unknown" else "not ready"
    return "cordoned" if spec.get("unschedulable") else ""


def unusable_reason(nodes) -> str:
    """Why a cluster whose every node is unusable cannot run anything now (``_Node`` values),
    or "" when some node is usable (or none is known)."""
    nodes = list(nodes)
    if not nodes or any(not n.unusable for n in nodes):
        return ""
    counts = Counter(n.unusable for n in nodes)
    return "no node can run pods now (" + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) + ")"


class _Node:
    """What placement needs of one node, parsed once per node update."""

    __slots__ = ("name", "offers", "cpu", "memory", "unusable", "images")

    def __init__(self, obj: dict, mappings):
        meta, spec, status = obj["metadata"], obj.get("spec") or {}, obj.get("status") or {}
        alloc = status.get("allocatable") or {}
        self.name = meta["name"]
        self.offers = gpus.node_gpu_offers(meta.get("labels") or {}, alloc, spec.get("taints") or [], mappings)
        self.cpu = cpu_millis(alloc.get("cpu", 0))
        self.memory = units(alloc.get("memory", 0))
        self.unusable = node_unusable(obj)
        self.images = frozenset().union(*(image_keys(i.get("names")) for i in status.get("images") or []))

    @property
    def schedulable(self) -> bool:
        return not self.unusable


def started_images(pod: dict) -> set[str]:
    """Image keys of a pod's containers that have started from a pulled image (``imageID`` set)."""
    status = pod.get("status") or {}
    return {key for cs in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]
            if cs.get("imageID") and (key := image_key(cs.get("image")))}


class ClusterInventory:
    """Watches one member cluster and answers ``snapshot()`` at any time."""

    def __init__(self, member: MemberCluster, hub_api: client.ApiClient, reader_api: client.ApiClient | None = None,
                 mappings: tuple = (), health_interval: float = 1.0, health_timeout: float = 2.0,
                 on_change: Callable[[str], None] | None = None):
        self.member = member
        self.hub_api = hub_api
        self.reader_api = reader_api
        # The cluster's own mappings come first: they know its labels best.
        self.mappings = tuple(member.label_mappings) + tuple(mappings)
        self.health_interval, self.health_timeout = health_interval, health_timeout
        self.on_change = on_change or (lambda name: None)
        self.healthy = False
        self.health_reason = "not checked yet"
        self.visibility = VISIBILITY_UNKNOWN
        self.nodes: dict[str, _Node] = {}
        self.pods: dict[str, tuple[str, dict[str, int], str | None]] = {}  # key -> (node, requests, gpu type)
        self.quota_headroom: dict[str, int] = {}  # resource -> what the quota still allows
        self.recently_full: dict[str, float] = {}
        self.recent_images: dict[str, float] = {}  # image key -> when a hub pod last started from it
        self.holdings: dict[str, dict[str, Holding]] = {}  # owner -> pod key -> what it holds (hub's pods)
        self._holders: dict[str, str] = {}  # pod key -> owner
        self.ready = asyncio.Event()
        #: Set once the first health probe has answered or failed (health is "not checked yet" before).
        self.checked = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._snapshot: ClusterSnapshot | None = None
        self._offers: dict[str, list[gpus.GpuOffer]] = {}  # gpu type -> offers of its main resource
        # How the admin-declared types are asked for: depends on configuration only.
        self._declared = {gpu_type: gpus.scheduling_for(gpu_type, member.gpu_convention, self.mappings)
                          for gpu_type in member.capacity}

    # ---- lifecycle -----------------------------------------------------------
    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._health_loop(), name=f"health-{self.member.name}"),
                       asyncio.create_task(self._watch_loop(), name=f"inventory-{self.member.name}")]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    def _changed(self) -> None:
        self._snapshot = None
        self.on_change(self.member.name)

    # ---- health --------------------------------------------------------------
    async def _health_loop(self) -> None:
        failures = 0
        while True:
            try:
                await health.probe(self.hub_api, self.member.namespace, self.health_timeout)
                failures = 0
                if not self.healthy:
                    self.healthy, self.health_reason = True, ""
                    self._changed()
            except asyncio.CancelledError:
                raise
            except Exception as err:  # noqa: BLE001 - any failure to answer counts
                failures += 1
                first_check = self.health_reason == "not checked yet"
                reason = health.reason(err, self.member.namespace)
                if ((failures >= 2 or health.refused(err)) and self.healthy) or first_check \
                        or (not self.healthy and reason != self.health_reason):
                    self.healthy, self.health_reason = False, reason
                    self._changed()
            self.checked.set()
            await asyncio.sleep(self.health_interval)

    # ---- watches -------------------------------------------------------------
    async def _watch_loop(self) -> None:
        ns = self.member.namespace
        hub_core = client.CoreV1Api(self.hub_api)
        reader = client.CoreV1Api(self.reader_api or self.hub_api)
        shared = [
            ResourceWatch(hub_core.list_namespaced_resource_quota, args=(ns,), on_change=self._on_quota,
                          name=f"{self.member.name}/quotas"),
            ResourceWatch(hub_core.list_namespaced_event, args=(ns,), field_selector="reason=FailedScheduling",
                          on_change=self._on_event, name=f"{self.member.name}/events"),
        ]
        self._quota_watch = shared[0]
        node_watch = ResourceWatch(reader.list_node, on_change=self._on_node, name=f"{self.member.name}/nodes",
                                   raise_forbidden=True)
        self._node_watch = node_watch
        pod_watch = ResourceWatch(reader.list_pod_for_all_namespaces, field_selector=ACTIVE_PODS,
                                  on_change=self._on_pod, name=f"{self.member.name}/pods", raise_forbidden=True)
        self._pod_watch = pod_watch
        tasks = [asyncio.create_task(w.run()) for w in shared]
        try:
            try:
                self.visibility = VISIBILITY_NODES
                async with asyncio.TaskGroup() as group:  # a 403 on one ends them all
                    for job in (node_watch.run(), pod_watch.run(), self._mark_ready(node_watch, pod_watch)):
                        group.create_task(job)
                return
            except* WatchForbidden:
                log.info("%s: the credential cannot watch nodes; using namespace-level availability",
                         self.member.name)
            self.visibility = VISIBILITY_NAMESPACE
            self.nodes = {}
            own = ResourceWatch(hub_core.list_namespaced_pod, args=(ns,), on_change=self._on_pod,
                                name=f"{self.member.name}/own-pods")
            self._pod_watch = own
            self._changed()
            await asyncio.gather(own.run(), self._mark_ready(own, shared[0]))
        finally:
            for task in tasks:
                task.cancel()

    async def _mark_ready(self, *watches: ResourceWatch) -> None:
        for w in watches:
            await w.synced.wait()
        self.ready.set()
        self._changed()

    def _on_node(self, kind: str, obj: dict) -> None:
        if kind == "RELIST":
            self.nodes = {key: _Node(o, self.mappings) for key, o in self._node_watch.objects.items()}
        elif kind == "DELETED":
            self.nodes.pop(ResourceWatch.key(obj), None)
        else:
            self.nodes[ResourceWatch.key(obj)] = _Node(obj, self.mappings)
        self._changed()

    def _on_pod(self, kind: str, obj: dict) -> None:
        self._note_images(self._pod_watch.objects.values() if kind == "RELIST" else (obj,))
        if kind == "RELIST":
            self.pods = {key: self._pod_entry(o) for key, o in self._pod_watch.objects.items() if _is_active(o)}
            self.holdings, self._holders = {}, {}
            for key, o in self._pod_watch.objects.items():
                self._note_holding(key, o)
        elif kind == "DELETED" or not _is_active(obj):
            self.pods.pop(ResourceWatch.key(obj), None)
        else:
            self.pods[ResourceWatch.key(obj)] = self._pod_entry(obj)
        if kind != "RELIST":
            self._note_holding(ResourceWatch.key(obj), obj, gone=kind == "DELETED")
        self._changed()

    def _note_holding(self, key: str, pod: dict, gone: bool = False) -> None:
        """Track the GPUs the hub's own pods hold, by owner (for GPU budgets)."""
        held = None if gone or not _is_active(pod) or (pod.get("metadata") or {}).get(
            "namespace") != self.member.namespace else pod_holding(pod, self.member.name)
        before = self._holders.pop(key, None)
        if before is not None:
            mine = self.holdings[before]
            mine.pop(key, None)
            if not mine:
                del self.holdings[before]
        if held is not None:
            owner, holding = held
            self._holders[key] = owner
            self.holdings.setdefault(owner, {})[key] = holding

    def held_by(self, user: str) -> list[Holding]:
        """What ``user``'s servers and jobs hold on this cluster now."""
        return list(self.holdings.get(user, {}).values())

    def _note_images(self, pods) -> None:
        """Remember the images the hub's own pods started from (its namespace only)."""
        now = time.time()
        for pod in pods:
            if (pod.get("metadata") or {}).get("namespace") == self.member.namespace:
                for key in started_images(pod):
                    self.recent_images[key] = now

    @staticmethod
    def _pod_entry(pod: dict) -> tuple[str, dict[str, int], str | None]:
        labels = pod["metadata"].get("labels") or {}
        return (pod.get("spec") or {}).get("nodeName", ""), pod_requests(pod), labels.get(GPU_TYPE_LABEL)

    def _on_quota(self, kind: str, obj: dict) -> None:
        headroom: dict[str, int] = {}
        for quota in self._quota_watch.objects.values():
            status = quota.get("status") or {}
            hard, used = status.get("hard") or {}, status.get("used") or {}
            for key, limit in hard.items():
                resource = key.removeprefix("requests.").removeprefix("limits.")
                try:
                    left = max(units(limit) - units(used.get(key, 0)), 0)
                except QuantityError:
                    continue
                headroom[resource] = min(left, headroom.get(resource, left))
        self.quota_headroom = headroom
        self._changed()

    def _on_event(self, kind: str, obj: dict) -> None:
        if kind in ("RELIST", "DELETED") or "Insufficient" not in (obj.get("message") or ""):
            return
        involved = obj.get("involvedObject") or {}
        entry = self.pods.get(f"{involved.get('namespace', '')}/{involved.get('name', '')}")
        gpu_type = entry[2] if entry else None
        if gpu_type:
            self.recently_full[gpu_type] = time.time()
            self._changed()

    # ---- snapshot ------------------------------------------------------------
    def snapshot(self) -> ClusterSnapshot:
        """The cluster as placement sees it now (cached until the next change)."""
        if self._snapshot is None:
            used = self._used_by_node()
            gpus_now = self._visible_gpus(used) if self.visibility == VISIBILITY_NODES else self._namespace_gpus()
            # Every node unreachable or not ready (after an outage, say): nothing can start here now.
            no_node = unusable_reason(self.nodes.values()) if self.visibility == VISIBILITY_NODES else ""
            self._snapshot = ClusterSnapshot(
                name=self.member.name, display_name=self.member.display_name, site=self.member.site,
                owner=self.member.owner, healthy=self.healthy and self.ready.is_set() and not no_node,
                health_reason=self.health_reason if not self.healthy else (
                    no_node or ("" if self.ready.is_set() else "inventory still loading")),
                visibility=self.visibility, gpus=gpus_now, cpu_memory_free=self._cpu_memory_free(used),
                cost_weight=self.member.cost_weight, labels=dict(self.member.labels),
                allowed_groups=self.member.allowed_groups,
                recently_full=self._recent_full(), cpu_only_free=self._cpu_only_free(used),
                images=frozenset().union(*(n.images for n in self.nodes.values())),
                recent_images=self._recent_images(), datasets=dict(self.member.datasets))
        return self._snapshot

    def _used_by_node(self) -> dict[str, dict[str, int]]:
        used: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for node, requests, _ in self.pods.values():
            for name, value in requests.items():
                used[node][name] += value
        return used

    def _visible_gpus(self, used: dict[str, dict[str, int]]) -> dict[str, GpuAvailability]:
        by_type: dict[str, dict[str, list[tuple[_Node, gpus.GpuOffer]]]] = defaultdict(lambda: defaultdict(list))
        for node in self.nodes.values():
            for offer in node.offers:
                by_type[offer.gpu.name][offer.resource].append((node, offer))
        out, offers = {}, {}
        for name, per_resource in by_type.items():
            # One type offered through two resources (MIG single and mixed nodes, say):
            # count and ask for the one with the most GPUs.
            resource, found = max(per_resource.items(), key=lambda kv: sum(o.count for _, o in kv[1]))
            offers[name] = list({o: None for _, o in found})
            out[name] = aggregate.gpu_availability(
                name, found[0][1].gpu.display, resource,
                ((o.count, used[n.name].get(resource, 0), n.schedulable) for n, o in found),
                self.quota_headroom.get(resource))
        self._offers = offers
        return out

    def _namespace_gpus(self) -> dict[str, GpuAvailability]:
        out = {}
        for gpu_type, declared in self.member.capacity.items():
            sched = self._declared[gpu_type]
            own_use = sum(requests.get(sched.resource, 0) for _, requests, label in self.pods.values()
                          if label == gpu_type)
            bound, source = max(declared - own_use, 0), SOURCE_DECLARED
            cap = self.quota_headroom.get(sched.resource)
            if cap is not None and cap <= bound:
                bound, source = cap, SOURCE_QUOTA
            note = f"up to {bound} free, from {'quota' if source == SOURCE_QUOTA else 'declared capacity'}"
            out[gpu_type] = GpuAvailability(
                gpu_type=gpu_type, display=sched.gpu.display, resource=sched.resource, total=declared, free=None,
                free_upper_bound=bound, largest_free_on_one_node=None, max_per_node=None,
                source=source, note=note)
        return out

    def scheduling(self, gpu_type: str) -> GpuScheduling:
        """Resource, node affinity and tolerations for ``gpu_type`` here: every node seen
        offering it through its main resource, or else how the admin declared it."""
        self.snapshot()  # keeps the offers current
        offers = self._offers.get(gpu_type) or ([self._declared[gpu_type]] if gpu_type in self._declared else [])
        if not offers:
            raise gpus.GpuTypeError(f"{self.member.name} offers no {gpu_type}")
        tolerations = tuple({str(sorted(t.items())): dict(t) for o in offers for t in o.tolerations}.values())
        affinity = gpus.node_affinity(offers)
        return GpuScheduling(resource=offers[0].resource, tolerations=tolerations,
                             node_affinity=affinity.get("nodeAffinity") if affinity else None)

    def avoid_gpu_nodes(self) -> dict | None:
        """A preferred node-affinity term keeping a CPU-only pod off this cluster's GPU nodes (every
        node seen offering GPUs, or the declared types' nodes), or None when there is none to avoid."""
        self.snapshot()  # keeps the offers current
        offers = [o for found in self._offers.values() for o in found] or list(self._declared.values())
        return gpus.avoid_gpu_nodes(offers)

    def _recent_images(self) -> frozenset[str]:
        now = time.time()
        self.recent_images = {k: v for k, v in self.recent_images.items() if now - v <= RECENT_IMAGE_S}
        return frozenset(self.recent_images)

    def _cpu_only_free(self, used: dict[str, dict[str, int]]) -> tuple[tuple[int, int], ...] | None:
        if self.visibility != VISIBILITY_NODES:
            return None
        return aggregate.cpu_memory_frontier(
            (n.cpu - used[n.name].get("cpu", 0), n.memory - used[n.name].get("memory", 0))
            for n in self.nodes.values() if n.schedulable and not n.offers)

    def _recent_full(self) -> dict[str, float]:
        """GPU types the scheduler recently said were full (older reports are dropped)."""
        now = time.time()
        self.recently_full = {k: v for k, v in self.recently_full.items() if now - v <= RECENTLY_FULL_S}
        return dict(self.recently_full)

    def _cpu_memory_free(self, used: dict[str, dict[str, int]]) -> tuple[tuple[int, int], ...]:
        if self.visibility != VISIBILITY_NODES:
            return ()
        return aggregate.cpu_memory_frontier(
            (n.cpu - used[n.name].get("cpu", 0), n.memory - used[n.name].get("memory", 0))
            for n in self.nodes.values() if n.schedulable)
