"""``FederatedKubeSpawner``: KubeSpawner over every member cluster of the federation.

For each start it asks the federation core for ranked candidate clusters, starts the
server on the first, and watches what happens there. When the cluster answers with a
FailedScheduling event, a quota rejection, an image-pull failure or silence, it cleans
up and moves to the next candidate at once, narrating each step in the spawn progress.
The chosen cluster is kept in the spawner state, so after a hub restart every running
server is found again on its own cluster.

Everything KubeSpawner does per server (PVCs, named servers, profile_list, extra
resources, events) still happens, on the chosen cluster, through that cluster's own
API client and reflectors — never through the process-global kube configuration.
"""

from __future__ import annotations

import asyncio
import time

from jupyterhub.spawner import Spawner
from jupyterhub.utils import maybe_future, url_escape_path
from kubernetes_asyncio import client
from kubespawner import KubeSpawner
from traitlets import Bool, Dict, Integer, Unicode, default

from ..errors import UserError
from ..federation.config import MemberCluster
from ..federation.gpus import GpuTypeError
from ..federation.model import GPU_TYPE_LABEL
from ..federation.quantity import QuantityError, cpu_millis, units
from ..federation.registry import ClusterRegistry
from ..federation import failover
from . import access, attempts, baseline, form, hedge, hedge_race, namespaces, options, queued, ttn
from .reflectors import ClusterEventReflector, ClusterPodReflector
from .storage import PvcLocation, find_claim

CLUSTER_LABEL = "fedspawner.dev/cluster"


class SpawnRefused(UserError):
    """A start the federation cannot honour; the message (shown as is) is for the user."""

    def __init__(self, message: str):
        super().__init__(message)
        self.jupyterhub_message = message


class FederatedKubeSpawner(KubeSpawner):
    """A KubeSpawner that places each server on the member cluster and GPU type that fit."""

    # Reflectors are shared by all spawners, keyed by (cluster, kind, namespace).
    reflectors: dict = {}

    cluster_name = Unicode("", help="The member cluster this server runs on (kept in the spawner state).")
    tunnel_port = Integer(0, help="Local port of the port-forward tunnel to this server (tunnel access).")
    failover_deadline = Integer(0, config=True, help="""
        Seconds the whole start may take across every candidate cluster; 0 uses start_timeout.""")
    hedge_starts = Bool(False, config=True, help="""
        Hedge every start by default: race the two best candidate clusters (the usual start on
        the first, a standby copy on the second), keep the server whose pod is Ready first and
        delete the other at once. A profile's ``hedge: true|false`` overrides this. Hedging
        costs a second pod for the seconds of the race; it is skipped when a cluster is chosen
        explicitly, with persistent storage, internal SSL or per-server Services.""")

    kueue_queues = Dict(config=True, help="""
        Member clusters whose notebook servers go through Kueue's pod integration (opt-in per
        cluster): ``{cluster: True}`` uses the LocalQueue found in the server's namespace
        (``default``, else the only one), ``{cluster: "queue"}`` names it, ``{cluster: {group:
        "queue", "*": "queue"}}`` names it per group; the key ``"*"`` opts in every cluster
        that serves Kueue. Profiles and group overrides may change it like any setting. The
        server's pod carries ``kueue.x-k8s.io/queue-name`` and waits, gated by Kueue, until
        the queue admits it; the spawn progress says where it stands and why it waits.""")
    kueue_admission_window = Integer(60, config=True, help="""
        Seconds a server may wait in a cluster's Kueue queue before its start moves on to the
        next cluster (within failover_deadline / start_timeout).""")

    server_readiness_probe = Bool(False, config=True, help="""
        Give the notebook container a readiness probe on the server's own API
        (``<server path>api``), so that its pod is Ready only once the server answers:
        hedged starts then keep the first server that really answers, and the
        time-to-notebook history (pod creation → Ready, also after a hub restart) includes
        the server's own start-up. Needs an image whose server answers there (any
        jupyterhub-singleuser does); leave off for images that do not.""")

    @default("cmd")
    def _default_cmd(self):
        return ["jupyterhub-singleuser"]

    @default("options_form")
    def _options_form_default(self):
        return form.render_options_form

    @default("options_from_form")
    def _options_from_form_default(self):
        return options.options_from_form

    def __init__(self, *args, **kwargs):
        # KubeSpawner.__init__ without its process-global client configuration
        # (load_config/shared_client): clients come from the federation, per cluster.
        kwargs.pop("_mock", None)
        Spawner.__init__(self, *args, **kwargs)
        if self.enable_user_namespaces:  # the same per-user namespace on whichever cluster it runs
            self.namespace = self._expand_user_properties(self.user_namespace_template)
        self.pod_name = self._expand_user_properties(self.pod_name_template)
        self.dns_name = self.dns_name_template.format(namespace=self.namespace, name=self.pod_name)
        self.secret_name = self._expand_user_properties(self.secret_name_template)
        self.pvc_name = self._expand_user_properties(self.pvc_name_template)
        self._pvc_exists = False
        if self.working_dir:
            self.working_dir = self._expand_user_properties(self.working_dir)
        if self.port == 0:
            self.port = 8888
        self._start_future = None
        self._configured = baseline.snapshot(self)  # what clear_state goes back to
        self._requested_namespace: str | None = None  # a namespace this server's own settings ask for
        self.pvc_location: PvcLocation | None = None  # where the server's claim lives (kept across stops)
        self._profile_applied = False
        self._narration: list[str] = []
        self._hedge_standby: hedge.Standby | None = None
        self._attempt_began = 0.0  # when the attempt that produced the server began
        self._target_gpus: tuple[str | None, int] = (None, 0)  # GPU type and count on the current target
        self._attempt_id = ""  # the attempt label of the pod being started (see attempts)
        self._queue_on: dict[str, str] = {}  # cluster -> the Kueue LocalQueue the server uses there
        self._queue_watch: queued.QueueWatch | None = None  # the current attempt's, where it queues

    # ---- federation ----------------------------------------------------------
    async def registry(self) -> ClusterRegistry:
        """The process's federation registry, started on first use."""
        registry = ClusterRegistry.shared(self.config)
        await registry.start()
        attempts.Sweeper.ensure(registry, self._namespace_of)  # pods of starts that did not finish
        return registry

    def _namespace_of(self, cluster: str) -> str:
        return ClusterRegistry.shared(self.config).members[cluster].namespace

    @property
    def member(self) -> MemberCluster:
        return ClusterRegistry.shared(self.config).members[self.cluster_name]

    def _access(self) -> access.Access:
        """How the hub reaches the server on the current cluster."""
        return access.mode(self.member.access)

    @property
    def api(self) -> client.CoreV1Api:
        """CoreV1Api of the cluster this server runs (or is being started) on."""
        if not self.cluster_name:
            raise RuntimeError("no member cluster chosen yet")
        return client.CoreV1Api(ClusterRegistry.shared(self.config).api(self.cluster_name))

    def _get_reflector_key(self, kind: str):
        return (self.cluster_name, kind, self.namespace)

    async def _start_watching_pods(self, replace=False):
        return await self._start_reflector(
            kind="pods", reflector_class=ClusterPodReflector, replace=replace,
            api_client=ClusterRegistry.shared(self.config).api(self.cluster_name), cluster=self.cluster_name,
            labels={"component": self.component_label}, omit_namespace=False)

    async def _start_watching_events(self, replace=False):
        return await self._start_reflector(
            kind="events", reflector_class=ClusterEventReflector, replace=replace,
            api_client=ClusterRegistry.shared(self.config).api(self.cluster_name), cluster=self.cluster_name,
            fields={"involvedObject.kind": "Pod"}, omit_namespace=False)

    def _namespace_on(self, member: MemberCluster) -> str:
        """The namespace this server uses on ``member``: the one its own settings ask for,
        the user's own with ``enable_user_namespaces``, else the member's configured namespace."""
        if self._requested_namespace:
            return self._requested_namespace
        if self.enable_user_namespaces:
            return self._expand_user_properties(self.user_namespace_template)
        return member.namespace

    def _use_cluster(self, name: str) -> None:
        self.cluster_name = name
        self.namespace = self._namespace_on(self.member)
        self.dns_name = self.dns_name_template.format(namespace=self.namespace, name=self.pod_name)

    # ---- state ---------------------------------------------------------------
    def get_state(self):
        state = super().get_state()
        if self.cluster_name:
            state["cluster"] = self.cluster_name
        if self.tunnel_port:
            state["tunnel_port"] = self.tunnel_port
        if self.pvc_location:
            state["pvc_location"] = self.pvc_location.to_state()
        return state

    def load_state(self, state):
        super().load_state(state)  # the saved namespace (and pod, PVC names) win over today's templates
        if state.get("cluster"):
            self.cluster_name = state["cluster"]
            if "namespace" not in state and self.cluster_name in ClusterRegistry.shared(self.config).members:
                self.namespace = self._namespace_on(self.member)
        self.tunnel_port = state.get("tunnel_port", 0)
        self.pvc_location = PvcLocation.from_state(state) or self.pvc_location

    def clear_state(self):
        """Reset for the next start (JupyterHub calls this before every spawn's hooks and after
        a stop): the configured settings come back, so the next start's hooks, group and
        profile overrides apply to them and nothing of this start leaks; the PVC's location stays."""
        super().clear_state()
        baseline.restore(self, self._configured)
        self._requested_namespace = None
        self.cluster_name = ""
        self.tunnel_port = 0

    # ---- options -------------------------------------------------------------
    def _groups(self) -> frozenset[str]:
        return frozenset(g.name for g in getattr(self.user, "groups", []) or [])

    async def profiles(self) -> list[dict]:
        """The profile list (a callable one evaluated for this user), initialised as KubeSpawner
        does: what the form shows and what starts are checked against."""
        profiles = self.profile_list
        if callable(profiles):
            profiles = await maybe_future(profiles(self))
        return self._get_initialized_profile_list(self._sorted_dict_values(profiles)) if profiles else []

    def run_options_from_form(self, form_data):
        """The configured ``options_from_form`` (fedspawner's by default; a callable or
        ``'simple'`` as in KubeSpawner), then the federation's checks of the result."""
        return self._checked_options(lambda: super(FederatedKubeSpawner, self).run_options_from_form(form_data))

    def options_from_query(self, query_data):
        """``/spawn?…`` query arguments, through the same checks as the form."""
        return self._checked_options(lambda: super(FederatedKubeSpawner, self).options_from_query(query_data))

    async def _checked_options(self, parse):
        """User options from ``parse()``, refused (ValueError, shown on the form) when they cannot be done."""
        try:
            opts = await maybe_future(parse())
            if not isinstance(opts, dict):
                return opts
            registry = await self.registry()  # a form posted right after a hub restart finds it unstarted
            await registry.wait_ready()
            options.resolve(dict(opts), await self.profiles(), registry.snapshot(), self._groups())
        except options.OptionsError as err:
            raise ValueError(str(err)) from None
        return opts

    async def load_user_options(self):
        # Applied once per spawn (our _start calls it); KubeSpawner._start calls it
        # again for every attempt, which must not undo the per-cluster settings.
        if not self._profile_applied:
            await super().load_user_options()

    # ---- start with failover ------------------------------------------------
    def _narrate(self, message: str) -> None:
        self.log.info("[%s] %s", self._log_name, message)
        self._narration.append(message)

    def _resources_requested(self) -> tuple[int, int]:
        try:
            cpu = cpu_millis(self.cpu_guarantee or 0)
            mem = units(self.mem_guarantee or 0)
        except QuantityError:
            cpu, mem = 0, 0
        return cpu, mem

    async def _start(self):
        # The spawner's settings are as configured (clear_state), then changed by this spawn's
        # hooks and group overrides: all of that stays, as with KubeSpawner.
        self._narration = []
        registry = await self.registry()
        await registry.wait_ready()
        snapshot = registry.snapshot()
        try:  # our checks first: they know about groups, clusters and GPUs
            request = options.resolve(dict(self.user_options or {}), await self.profiles(), snapshot,
                                      self._groups())
        except options.OptionsError as err:
            raise SpawnRefused(str(err)) from None
        await KubeSpawner.load_user_options(self)
        self._profile_applied = True
        only = await self._settings_limit(registry, request)
        await attempts.sweep(registry, self._namespace_of, self.pod_name)  # an unfinished start's pods
        try:
            url = await self._start_somewhere(registry, snapshot, request, only)
        finally:
            self._profile_applied = False
        if self.storage_pvc_ensure and self._pvc_exists:
            self.pvc_location = PvcLocation(self.cluster_name, self.namespace)
        self._record_start(registry)
        return url

    async def _settings_limit(self, registry: ClusterRegistry, request: options.ServerRequest
                              ) -> frozenset[str] | None:
        """The clusters this server's own settings limit it to (None: no limit): the ones granting
        a namespace its profile or hooks ask for, and the one holding its storage."""
        only = None
        configured = self._configured["namespace"]
        if self.namespace != configured and not self.enable_user_namespaces:
            self._requested_namespace = self.namespace
            only = frozenset(namespaces.granting(self.namespace, registry.members.values()))
            if not only:
                self._narrate(message := namespaces.refusal(self.namespace, registry.members.values()))
                raise SpawnRefused(message)
        elif self.namespace != configured:
            self._requested_namespace = self.namespace
        location = await self._claim_location(registry) if self.storage_pvc_ensure else None
        if location is None:
            return only
        if (request.cluster and request.cluster != location.cluster) or (only is not None
                                                                         and location.cluster not in only):
            message = (f"Your storage (volume claim {self.pvc_name}) is on {location.cluster}, so this server "
                       f"starts there: choose Auto or {location.cluster}, or ask an admin to move the data.")
            self._narrate(message)
            raise SpawnRefused(message)
        self._narrate(f"Your storage (volume claim {self.pvc_name}) is on {location.cluster}: starting there")
        return frozenset({location.cluster})

    async def _claim_location(self, registry: ClusterRegistry) -> PvcLocation | None:
        """Where this server's claim is: as remembered, else looked for on every member cluster."""
        if self.pvc_location and self.pvc_location.cluster in registry.members:
            return self.pvc_location
        healthy = {name: self._namespace_on(m) for name, m in registry.members.items()
                   if registry.inventories[name].healthy}  # a silent cluster must not hold every start up
        found, _ = await find_claim(registry.clients, self.pvc_name, healthy)
        self.pvc_location = found[0] if found else None
        return self.pvc_location

    async def time_to_notebook(self, clusters: list[dict]) -> list[dict]:
        """The launch form's time-to-notebook rows for ``clusters`` (availability entries)."""
        registry = await self.registry()
        await ttn.recover(registry, self._namespace_of, self.component_label)
        names = {c["name"]: c["display_name"] for c in clusters}
        displays = {g["type"]: g["display"] for c in clusters for g in c["gpus"]}
        return ttn.form_rows(ttn.predictions(registry, list(names), self.image, None), names,
                             {c: registry.warm.counts(c) for c in names}, displays)

    def _record_start(self, registry: ClusterRegistry) -> None:
        """Add this start's duration to the time-to-notebook history of its cluster."""
        pod = self.pod_reflector.pods.get(f"{self.namespace}/{self.pod_name}") if self.pod_reflector else None
        uid = pod["metadata"].get("uid", "") if pod else ""
        ttn.record(registry, self.cluster_name, self.extra_labels.get(GPU_TYPE_LABEL), self.image,
                   time.monotonic() - self._attempt_began, uid)

    async def _start_somewhere(self, registry: ClusterRegistry, snapshot, request: options.ServerRequest,
                               only: frozenset[str] | None = None):
        over = registry.over_budget(self.user.name, self._groups(), request.gpu_count, "this server")
        if over:
            self._narrate(over)
            raise SpawnRefused(over)
        cpu, mem = self._resources_requested()
        decision = registry.place(options.server_placement(
            request, snapshot, user=self.user.name, groups=self._groups(), cpu_milli=cpu, memory_bytes=mem,
            policy=registry.federation.placement_policy, image=self.image, only=only), snapshot)
        if not decision.candidates:
            message = "No member cluster can start this server now:\n" + "\n".join(
                f"• {r.reason}" for r in decision.rejected)
            self._narrate(message)
            raise SpawnRefused(message)
        deadline = time.monotonic() + (self.failover_deadline or self.start_timeout)
        after_profile = baseline.snapshot(self)
        failures, candidates = await self._choose_queues(registry, list(decision.candidates))
        pair = self._hedge_pair(request, candidates)
        if pair:
            url, failures = await hedge_race.race(self, registry, *pair, request.gpu_count, deadline, after_profile)
            if url:
                return url
            candidates = [c for c in candidates if c not in pair]
        for i, candidate in enumerate(candidates):
            baseline.restore(self, after_profile)
            self._use_cluster(candidate.cluster)
            self._attempt_id = attempts.new_id()
            self._narrate(f"{candidate.reason} — starting there")
            try:
                self._apply_target(registry, candidate, request.gpu_count)
                return await self._attempt(registry, candidate, deadline)
            except failover.Failover as err:
                failures.append(f"{candidate.cluster}: {err}")
                await self._abandon_attempt()
                nxt = candidates[i + 1].cluster if i + 1 < len(candidates) else None
                self._narrate(f"{candidate.cluster}: {err} — " + (f"trying {nxt}" if nxt else "no cluster left"))
                if time.monotonic() >= deadline:
                    break
        self.cluster_name = ""
        message = "Your server could not start on any cluster:\n" + "\n".join(f"• {f}" for f in failures) + \
            "".join(f"\n• {r.reason}" for r in decision.rejected)
        raise SpawnRefused(message)

    async def _choose_queues(self, registry: ClusterRegistry, candidates: list) -> tuple[list[str], list]:
        """The Kueue queue the server uses on each candidate cluster that queues notebooks
        (``kueue_queues``); candidates whose queue cannot take it are dropped, saying why."""
        self._queue_on, failures, kept = {}, [], []
        groups = self._groups()
        answers = await asyncio.gather(  # every cluster at once: an unreachable one does not delay the rest
            *(queued.choose(registry.api(c.cluster), c.cluster, self._namespace_on(registry.members[c.cluster]),
                            self.kueue_queues, groups) for c in candidates), return_exceptions=True)
        for candidate, queue in zip(candidates, answers):
            name = candidate.cluster
            if isinstance(queue, queued.QueueRefused):
                failures.append(f"{name}: {queue}")
                self._narrate(f"{name}: {queue} — not starting there")
                continue
            if isinstance(queue, BaseException):
                raise queue
            if queue:
                self._queue_on[name] = queue
            kept.append(candidate)
        return failures, kept

    def _hedge_pair(self, request: options.ServerRequest, candidates: list) -> tuple | None:
        """The two candidates to race when this start is hedged, else None (narrating why not)."""
        if not hedge.hedge_enabled(request.profile, self.hedge_starts):
            return None
        exposed = self.internal_ssl or self.services_enabled or bool(self.after_pod_created_hook)
        why = hedge.why_not_hedged(explicit_cluster=bool(request.cluster), candidates=len(candidates),
                                   storage=self.storage_pvc_ensure, exposed=exposed)
        members = ClusterRegistry.shared(self.config).members
        pair = None if why else hedge.hedge_pair(
            candidates, {c.cluster: access.mode(members[c.cluster].access).hedgeable for c in candidates})
        if pair is None:
            self._narrate(f"Not hedging this start: {why or 'no second cluster the hub reaches without an ingress'}")
        return pair

    def _apply_target(self, registry: ClusterRegistry, candidate, gpu_count: int) -> None:
        """Per-cluster settings on top of the profile's: GPU request, affinity, labels, hub URL."""
        labels = {CLUSTER_LABEL: candidate.cluster, attempts.ATTEMPT_LABEL: self._attempt_id}
        if candidate.cluster in self._queue_on:  # Kueue gates the pod until its queue admits it
            labels[queued.QUEUE_LABEL] = self._queue_on[candidate.cluster]
        self._target_gpus = (candidate.gpu_type, gpu_count) if candidate.gpu_type else (None, 0)
        if candidate.gpu_type:
            try:
                sched = registry.scheduling(candidate.cluster, candidate.gpu_type)
            except GpuTypeError as err:  # a declared type its convention cannot express
                raise failover.Failover(f"cannot ask for {candidate.gpu_type} there ({err})") from None
            count = str(gpu_count)
            self.extra_resource_limits = {**self.extra_resource_limits, sched.resource: count}
            self.extra_resource_guarantees = {**self.extra_resource_guarantees, sched.resource: count}
            terms = sched.node_selector_terms()
            if terms:
                self.node_affinity_required = and_node_selector_terms(list(self.node_affinity_required), terms)
            self.tolerations = list(self.tolerations) + [t for t in sched.tolerations if t not in self.tolerations]
            labels[GPU_TYPE_LABEL] = candidate.gpu_type
        else:  # a CPU-only server: rather not on a GPU node (composed with the profile's preferences)
            avoid = registry.inventories[candidate.cluster].avoid_gpu_nodes()
            if avoid:
                self.node_affinity_preferred = with_preference(self.node_affinity_preferred, avoid)
        self.extra_labels = {**self.extra_labels, **labels}
        if self.server_readiness_probe and not self.internal_ssl:
            probe = {"httpGet": {"path": self._server_path() + "api", "port": self.port}, "periodSeconds": 2}
            self.extra_container_config = {**self.extra_container_config, "readinessProbe": probe}
        hub_url = self.member.hub_url or registry.federation.public_hub_url
        if hub_url:
            self.hub_connect_url = hub_url
        self._access().prepare(self)

    async def _attempt(self, registry: ClusterRegistry, candidate, deadline: float) -> str:
        """Start on one cluster; raise failover.Failover to move on."""
        self._attempt_began = time.monotonic()
        # Events of an earlier pod with the same name must not count for this one.
        await self._start_watching_events()
        earlier = self.events
        self._last_event = earlier[-1]["metadata"]["uid"] if earlier else None
        if await registry.warm.take(self.cluster_name, *self._target_gpus):
            self._narrate(f"{self.cluster_name}: a warm {self._target_gpus[0]} slot is handed over to this server")
        started = (self.cluster_name, self.pod_name)
        attempts.ACTIVE.add(started)
        queue = self._queue_on.get(self.cluster_name)
        self._queue_watch = queue and queued.QueueWatch(
            registry.api(self.cluster_name), self.cluster_name, self.namespace, queue, self.pod_name,
            self.kueue_admission_window, self._narrate)
        attempt = asyncio.ensure_future(self._start_and_reach())
        watcher = asyncio.ensure_future(self._watch_attempt(registry))
        try:
            done, _ = await asyncio.wait({attempt, watcher}, timeout=max(deadline - time.monotonic(), 0.1),
                                         return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:  # a hedged race was won elsewhere, or the start was cancelled
            attempt.cancel()
            raise
        finally:
            watcher.cancel()
            attempts.ACTIVE.discard(started)
        if attempt in done:
            exc = attempt.exception()
            if exc is None:
                if self._queue_watch and not self._queue_watch.admitted:
                    await self._look_at_queue()  # admitted between two looks: say so
                return attempt.result()
            if isinstance(exc, failover.Failover):
                raise exc
            reason = (self._queue_watch and queued.kueue_down(exc, self.cluster_name)) \
                or failover.reason_for_exception(exc)
            if reason is None:
                raise exc
            raise failover.Failover(reason)
        attempt.cancel()
        await asyncio.gather(attempt, return_exceptions=True)
        if watcher in done and not watcher.cancelled() and watcher.exception() is None:
            raise failover.Failover(watcher.result())
        raise failover.Failover("did not start in time")

    async def _start_and_reach(self) -> str:
        """KubeSpawner's start, then the access mode's URL once the server answers through it,
        then the pod marked as kept: only a server the hub reaches counts as started."""
        url = await self._access().url(self, await KubeSpawner._start(self))
        await attempts.keep(ClusterRegistry.shared(self.config).api(self.cluster_name), self.namespace,
                            self.pod_name)
        return url

    async def _watch_attempt(self, registry: ClusterRegistry) -> str:
        """Return a reason as soon as the cluster shows the server will not start there."""
        inventory = registry.inventories[self.cluster_name]
        seen, look = 0, 0.0
        while True:
            if not inventory.healthy:
                return inventory.health_reason or "cluster unreachable"
            if self._queue_watch and time.monotonic() >= look:
                look = time.monotonic() + 0.5
                reason = await self._look_at_queue()
                if reason:
                    return reason
            if self.event_reflector is not None:
                events = self.events
                for event in events[seen:]:
                    reason = failover.reason_for_event(event)
                    if reason:
                        return reason
                seen = len(events)
            await asyncio.sleep(0.05)

    async def _look_at_queue(self) -> str | None:
        """One look at the server's Kueue queue (narrating what changed); why to move on, else None."""
        pod = self.pod_reflector.pods.get(f"{self.namespace}/{self.pod_name}") if self.pod_reflector else None
        return await self._queue_watch.check(pod["metadata"].get("uid") if pod else None)

    async def _abandon_attempt(self) -> None:
        """Delete what the failed attempt created on its cluster; a cluster that does not answer
        is not waited for: its pod is deleted when it answers again (see ``attempts``)."""
        await self._access().close(self)
        inventory = ClusterRegistry.shared(self.config).inventories[self.cluster_name]
        if inventory.healthy:
            try:
                await asyncio.wait_for(KubeSpawner.stop(self, now=True), 10)
                return
            except Exception as err:  # noqa: BLE001 - cleaned up by the sweeper instead
                self.log.warning("could not clean up %s on %s: %s", self.pod_name, self.cluster_name,
                                 err or type(err).__name__)
        attempts.abandon(self.cluster_name, self.namespace, self.pod_name, self._attempt_id)
        self._narrate(f"{self.cluster_name}: its pod there is deleted as soon as the cluster answers again")

    def _server_path(self) -> str:
        """The server's URL path on the hub (what the proxy forwards)."""
        base = self.user.url if self.user.url.endswith("/") else self.user.url + "/"
        return base + (url_escape_path(self.name) + "/" if self.name else "")

    # ---- poll / stop ---------------------------------------------------------
    async def poll(self):
        if not self.cluster_name:
            return 0
        registry = await self.registry()
        if self.cluster_name not in registry.members:
            self.log.warning("%s ran on %s, which is no longer a member cluster", self._log_name, self.cluster_name)
            return 0
        inventory = registry.inventories[self.cluster_name]
        await registry.wait_ready()
        if not inventory.healthy:
            # Never give up a server because its cluster is briefly unreachable.
            self.log.warning("%s: %s unreachable; assuming the server still runs", self._log_name,
                             self.cluster_name)
            return None
        status = await super().poll()
        if status is None:
            await self._access().resume(self)
        return status

    async def stop(self, now=False):
        if not self.cluster_name:
            return
        await self.registry()
        if self._hedge_standby is not None:  # stopped mid-race: the standby goes too
            await self._hedge_standby.delete()
        await self._access().close(self)
        await super().stop(now=now)

    async def delete_forever(self):
        """Delete the server's PVC (with ``delete_pvc``, as KubeSpawner does) on the cluster that
        holds it — also after a stop or a hub restart, when no cluster is chosen any more."""
        shared = self.name and "{user_server}" not in self.pvc_name_template
        if not self.delete_pvc or shared:
            return await KubeSpawner.delete_forever(self)  # says why it keeps the claim
        registry = await self.registry()
        if self.pvc_location and self.pvc_location.cluster in registry.members:
            places, unknown = [self.pvc_location], []
        else:
            places, unknown = await find_claim(registry.clients, self.pvc_name,
                                               {name: self._namespace_on(m) for name, m in registry.members.items()})
        if unknown:
            self.log.warning("%s: could not look for PVC %s on %s", self._log_name, self.pvc_name, ", ".join(unknown))
        cluster, namespace = self.cluster_name, self.namespace
        try:
            for place in places:
                self.cluster_name, self.namespace = place.cluster, place.namespace
                await KubeSpawner.delete_forever(self)
        finally:
            self.cluster_name, self.namespace = cluster, namespace
        self.pvc_location = None

    # ---- progress ------------------------------------------------------------
    async def progress(self):
        """Narrated placement steps and the chosen cluster's pod events."""
        sent_narration, sent_events, key = 0, 0, None
        progress = 0
        while True:
            done = self._start_future is not None and self._start_future.done()
            while sent_narration < len(self._narration):
                progress = min(progress + 10, 90)
                yield {"progress": progress, "message": self._narration[sent_narration]}
                sent_narration += 1
            if self.cluster_name and self.event_reflector is not None:
                if key != (self.cluster_name, self.pod_name):
                    key, sent_events = (self.cluster_name, self.pod_name), 0
                events = self.events
                for event in events[sent_events:]:
                    progress = min(progress + 5, 95)
                    yield {"progress": progress, "raw_event": event,
                           "message": f"{self.cluster_name}: [{event['type']}] {event['message']}"}
                sent_events = len(events)
            if done:
                return
            await asyncio.sleep(0.2)


def with_preference(preferred: list | dict, term: dict, key: str = "fedspawner-avoid-gpu-nodes") -> list | dict:
    """KubeSpawner's ``node_affinity_preferred`` (a list, or a dict of named terms) with ``term`` added."""
    if isinstance(preferred, dict):
        return {**preferred, key: term}
    return list(preferred) + ([term] if term not in preferred else [])


def and_node_selector_terms(existing: list[dict], ours: list[dict]) -> list[dict]:
    """Terms are ORed; to require both, combine every existing term with every one of ours."""
    if not existing:
        return [dict(t) for t in ours]
    if not ours:
        return existing
    combined = []
    for a in existing:
        for b in ours:
            term = {}
            for key in ("matchExpressions", "matchFields"):
                merged = list(a.get(key, [])) + list(b.get(key, []))
                if merged:
                    term[key] = merged
            combined.append(term)
    return combined
