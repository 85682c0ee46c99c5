"""Interactive Spark sessions: a Spark Connect server per session on a member cluster.

``SessionService`` creates, lists, shows and stops sessions for authenticated callers.
A session is placed like a Spark job (``planning.plan`` over the same spec and the same
checks: the conf allow-list, the image allow-list, the administrators' limits, GPU types)
and rendered by the session backend the chosen cluster serves
(``jobs.render.spark_connect_backends``: the Spark operator's ``SparkConnect`` where it is
served, fedspawner's own Connect server elsewhere). The member clusters are the record: a
session is its objects, labelled with its id; its anchor (the SparkConnect, or the
ConfigMap of fedspawner's own server, which owns the session's other objects) holds what
the gateway shows of it in its ``fedspawner.dev/session`` annotation, and its server pod
says how it runs. The gateway remembers when each session's tunnel last carried traffic (for
the idle and detached timeouts, ``c.Sessions``), the sessions it last saw on each cluster (so
a session on a cluster that stops answering says so) and clean-ups still to retry.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field, replace

from kubernetes_asyncio.client.rest import ApiException

from ..federation.placement import place
from ..federation.portforward import connect_answers
from ..jobs import JobSpec
from ..jobs.render.spark_connect import CONNECT_PORT, LABEL_SESSION_ID, SESSION_MANAGED_BY, SESSION_SCRIPT
from ..jobs.render.spark_connect_backends import BY_NAME, SESSION_BACKENDS, SessionBackend, session_backend
from ..jobs.render.spark_connect_cr import SPARKCONNECT
from ..jobs.labels import ANNOTATION_OWNER_NAME, LABEL_BACKEND, LABEL_COMPONENT, LABEL_MANAGED_BY
from ..jobs.spec import generate_name
from ..jobs.vocabulary import is_session_id
from . import kube
from .auth import Caller
from .errors import BadRequest, ClusterUnavailable, Forbidden, GatewayError, NotFound
from .identity import new_id, now_iso, object_name
from .planning import AUTO, plan
from .policy import check_image, check_limits, check_request, manifest_violations
from .sessions_config import Sessions
from .submit import CreateFailed

log = logging.getLogger(__name__)

#: The request fields a session takes; the rest of a job spec (script, packages, env, nodes) has no
#: meaning for one.
SESSION_FIELDS = ("name", "cluster", "executors", "cpu", "memory", "gpus", "conf", "image")
ANNOTATION_SESSION = "fedspawner.dev/session"
SPARKCONNECTS = kube.Resource.of(SPARKCONNECT)
#: Where each backend's anchor lives (the object holding the record, deleted last).
ANCHORS = {b.name: (SPARKCONNECTS if b.resource else kube.CONFIGMAPS) for b in SESSION_BACKENDS}
#: What a session is made of on its cluster besides its anchor, deleted in this order on stop.
SESSION_RESOURCES = (kube.PODS, kube.SERVICES)
STARTING, READY, FAILED = "Starting", "Ready", "Failed"
#: Failures an apiserver call can end with.
KUBE_ERRORS = (ApiException, OSError, asyncio.TimeoutError)
#: Seconds a cluster has to list its sessions before it counts as not answering.
LIST_TIMEOUT = 8.0
#: Attempts (and the pause between two) at removing what a failed create left.
CLEANUP_ATTEMPTS, CLEANUP_PAUSE = 3, 1.0


def new_session_id() -> str:
    """A new session's id: ``s-`` and 8 random lowercase base32 characters."""
    return new_id("s")


def session_spec(body: object, settings: Sessions) -> tuple[JobSpec, object]:
    """The Spark spec and the ``cluster`` field of a create request; 400/403 for bad input."""
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object such as {\"cluster\": \"auto\", \"executors\": 2}; "
                         f"its fields: {', '.join(SESSION_FIELDS)}.")
    check_request(body)  # 403 for fields that would escape the sandbox, named as for jobs
    unknown = sorted(set(body) - set(SESSION_FIELDS))
    if unknown:
        raise BadRequest(f"A session does not take {unknown[0]!r}. Its fields are: {', '.join(SESSION_FIELDS)} "
                         "(a session runs the queries you send it, so it has no script, packages or env).")
    fields = {key: body[key] for key in SESSION_FIELDS if key in body and key != "cluster"}
    if fields.get("name") is None:
        fields["name"] = generate_name("spark")
    if fields.get("image") is None:
        fields["image"] = settings.default_image
    spec = JobSpec.from_dict({"kind": "spark", "script": SESSION_SCRIPT, **fields})  # JobSpecError: 400
    return spec, body.get("cluster", AUTO)


@dataclass
class Activity:
    """When a session's tunnel last carried traffic, and how many connections it has open."""

    last: float = field(default_factory=time.monotonic)
    connections: int = 0
    detached_since: float | None = field(default_factory=time.monotonic)  # none open since (None: some are)

    def opened(self) -> None:
        self.connections += 1
        self.detached_since = None
        self.last = time.monotonic()

    def closed(self) -> None:
        self.connections -= 1
        if self.connections <= 0:
            self.connections = 0
            self.detached_since = time.monotonic()


@dataclass(frozen=True)
class Found:
    """A session on its cluster: its anchor, its server pod (None: none now) and, when its cluster
    does not answer, why (``lost``: what is shown is what the gateway saw last)."""

    cluster: str
    namespace: str
    anchor: dict
    pod: dict | None = None
    lost: str | None = None

    @property
    def record(self) -> dict:
        raw = (self.anchor["metadata"].get("annotations") or {}).get(ANNOTATION_SESSION) or "{}"
        try:
            return json.loads(raw)
        except ValueError:
            return {}

    @property
    def session_id(self) -> str:
        return self.anchor["metadata"]["labels"][LABEL_SESSION_ID]

    @property
    def owner(self) -> str | None:
        return (self.anchor["metadata"].get("annotations") or {}).get(ANNOTATION_OWNER_NAME)

    @property
    def backend(self) -> SessionBackend:
        label = (self.anchor["metadata"].get("labels") or {}).get(LABEL_BACKEND)
        return BY_NAME.get(label, SESSION_BACKENDS[-1])


class SessionService:
    """The gateway's sessions operations, on top of its ``GatewayService``."""

    def __init__(self, gateway, settings: Sessions):
        self.gateway = gateway
        self.registry = gateway.registry
        self.auth = gateway.auth
        self.settings = settings
        self.activity: dict[str, Activity] = {}
        self._ready: set[str] = set()  # server pod uids whose Connect server answered once
        self._reaper: asyncio.Task | None = None
        self._served: dict[str, tuple[float, bool]] = {}  # cluster -> (when, serves SparkConnect)
        self.known: dict[str, Found] = {}  # session id -> as last seen on its cluster
        self.leftovers: dict[str, str] = {}  # session id -> cluster whose objects are still to delete

    # ---- which backend ----------------------------------------------------------------------
    async def backend_on(self, cluster: str) -> SessionBackend:
        """The session backend ``cluster`` offers now (API discovery, cached like the jobs')."""
        return session_backend({SPARKCONNECT.crd} if await self._serves_connect(cluster) else ())

    async def _serves_connect(self, cluster: str) -> bool:
        cached = self._served.get(cluster)
        if cached and time.monotonic() - cached[0] < self.gateway.settings.discovery_ttl:
            return cached[1]
        try:
            found = await kube.request(self.registry.api(cluster), "GET", f"/apis/{SPARKCONNECT.api_version}",
                                       timeout=10)
            served = any(r.get("name") == SPARKCONNECT.plural for r in found.get("resources", []))
        except ApiException as err:
            if err.status != 404:
                raise
            served = False
        self._served[cluster] = (time.monotonic(), served)
        return served

    # ---- creating ------------------------------------------------------------------------------
    async def create(self, caller: Caller, body: object) -> dict:
        """Place and create a session for the caller; its view (phase Starting) with the placement's
        reasons."""
        spec, cluster_field = session_spec(body, self.settings)
        check_image(spec.image, self.gateway.settings.allowed_images)
        check_limits(spec, self.gateway.settings.limits())
        held = [s for s in await self._all() if s.owner == caller.name]
        if len(held) >= self.settings.max_per_user:
            raise Forbidden(f"You hold {len(held)} Spark session(s) already ({', '.join(s.session_id for s in held)}), "
                            f"the most one user may hold here. Stop one (%fedspark stop, or DELETE "
                            "api/v1/sessions/<id>) and start again.")
        snapshot = self.registry.snapshot()
        chosen = plan(spec, snapshot, caller.name, caller.groups, cluster_field)  # 400 / 422 with reasons
        reasons = {c.cluster: c.reason for c in place(chosen.request, snapshot).candidates}
        session_id = new_session_id()
        spec = replace(spec, name=object_name(spec.name, session_id))
        tried: list[str] = []
        for cluster in chosen.order:
            record = {"name": spec.name, "cluster": cluster, "executors": spec.executors, "cpu": spec.cpu,
                      "memory": spec.memory, "gpus": f"{spec.gpus.type}:{spec.gpus.count}" if spec.gpus.count else None,
                      "image": spec.image, "created": now_iso(),
                      "placement": reasons.get(cluster, cluster), "tried": list(tried)}
            try:
                found = await self._create_on(cluster, session_id, spec, caller.name, record,
                                              chosen.gpu_types.get(cluster))
            except CreateFailed as err:
                tried.append(f"{cluster}: {err}")
                continue
            self.activity[session_id] = Activity()
            self.known[session_id] = found
            return self.view(found)
        raise ClusterUnavailable(f"No member cluster could take the session now: {'; '.join(tried)}. "
                                 "Try again shortly.")

    async def _create_on(self, cluster: str, session_id: str, spec: JobSpec, owner: str, record: dict,
                         gpu_type: str | None) -> Found:
        namespace = self.registry.members[cluster].namespace
        try:
            backend = await self.backend_on(cluster)
        except KUBE_ERRORS as err:
            raise CreateFailed(_unreachable(err)) from None
        # The jobs' target (GPU scheduling, the Spark service account); labels then name the session backend.
        target = self.gateway.submitter.target(cluster, session_id, owner,
                                               "sparkapplication" if backend.creates_pods else "spark-standalone",
                                               spec, gpu_type)
        record["backend"] = backend.name
        objects = backend.render(spec, target, {ANNOTATION_SESSION: json.dumps(record)})
        if manifest_violations(objects, namespace):
            raise GatewayError("The gateway rendered a session that breaks its own sandbox rules; nothing was "
                               "created. This is a fault of fedspawner, logged for the administrators.", 500)
        api = self.registry.api(cluster)
        created: list[dict] = []
        try:
            for manifest in objects:
                if created:  # the anchor (created first) owns the rest: deleting it deletes them all
                    manifest["metadata"]["ownerReferences"] = [_owner_reference(created[0])]
                created.append(await _create(api, manifest))
        except KUBE_ERRORS as err:
            await self._remove_leftovers(cluster, session_id)
            raise CreateFailed(_unreachable(err)) from None
        pod = next((o for o in created if o["kind"] == "Pod"
                    and o["metadata"]["name"] == backend.server_pod(spec.name)), None)
        return Found(cluster, namespace, created[0], pod)

    async def _remove_leftovers(self, cluster: str, session_id: str) -> None:
        """Delete what a failed create made, retrying; what still fails is retried by the reaper."""
        for attempt in range(CLEANUP_ATTEMPTS):
            try:
                await self._delete_objects(cluster, session_id)
                return
            except KUBE_ERRORS as err:
                log.warning("session %s: removing what was created on %s failed (attempt %d): %s",
                            session_id, cluster, attempt + 1, err)
                await asyncio.sleep(CLEANUP_PAUSE)
        self.leftovers[session_id] = cluster

    # ---- finding -------------------------------------------------------------------------------
    async def _all(self, session_id: str | None = None) -> list[Found]:
        """Every session on every cluster (one session's with ``session_id``): as found on the healthy
        ones, as last seen on those that do not answer."""
        silent = {c.name: c.health_reason or "its apiserver does not answer"
                  for c in self.registry.snapshot().clusters if not c.healthy}
        answering = [name for name in self.registry.members if name not in silent]
        answers = await asyncio.gather(*(self._on(c, session_id) for c in answering))
        found: list[Found] = []
        for cluster, answer in zip(answering, answers):
            if isinstance(answer, str):
                silent[cluster] = answer
            else:
                found += answer
        listed = {s.session_id for s in found}
        for known_id, last in list(self.known.items()):
            if last.cluster not in silent and known_id not in listed and session_id in (None, known_id):
                self.known.pop(known_id)  # gone from an answering cluster
        for s in found:
            self.known[s.session_id] = s
        for known_id, last in self.known.items():
            if last.cluster in silent and session_id in (None, known_id):
                found.append(replace(last, lost=f"Cluster {last.cluster} does not answer ({silent[last.cluster]})"))
        return found

    async def _on(self, cluster: str, session_id: str | None) -> list[Found] | str:
        """The sessions on one cluster: their anchors joined with their server pods (why not, when the
        cluster did not answer)."""
        labels = {LABEL_MANAGED_BY: SESSION_MANAGED_BY}
        if session_id:
            labels[LABEL_SESSION_ID] = session_id
        api, namespace = self.registry.api(cluster), self.registry.members[cluster].namespace
        try:
            resources = [kube.CONFIGMAPS, *([SPARKCONNECTS] if await self._serves_connect(cluster) else [])]
            anchors, pods = await asyncio.gather(
                asyncio.gather(*(kube.list_objects(api, r, namespace, kube.selector(labels), metadata_only=True,
                                                   timeout=LIST_TIMEOUT) for r in resources)),
                kube.list_objects(api, kube.PODS, namespace, kube.selector({**labels, LABEL_COMPONENT: "driver"}),
                                  timeout=LIST_TIMEOUT))
        except KUBE_ERRORS as err:
            log.warning("sessions: listing on %s failed: %s", cluster, err)
            return _unreachable(err)
        by_id = {p["metadata"]["labels"].get(LABEL_SESSION_ID): p for p in pods
                 if not p["metadata"].get("deletionTimestamp")}
        return [Found(cluster, namespace, a, by_id.get(a["metadata"]["labels"].get(LABEL_SESSION_ID)))
                for group in anchors for a in group
                if not a["metadata"].get("deletionTimestamp") and ANNOTATION_SESSION in
                (a["metadata"].get("annotations") or {})]

    async def session(self, caller: Caller, session_id: str) -> Found:
        """The caller's session ``session_id``; 404 when there is none, 403 when it is someone else's."""
        found = await self._all(session_id) if is_session_id(session_id) else []
        if not found:
            raise NotFound(f"No session {session_id!r}: it was stopped, or never existed. `%fedspark status` "
                           "(GET api/v1/sessions) lists yours.")
        if not caller.may_act_on(found[0].owner):
            raise Forbidden(f"Session {session_id} belongs to another user; only its owner may use or stop it.")
        return found[0]

    async def list_sessions(self, caller: Caller) -> list[dict]:
        """The caller's sessions, newest first."""
        mine = [s for s in await self._all() if caller.may_act_on(s.owner)]
        views = await asyncio.gather(*(self.detail(s) for s in mine))
        return sorted(views, key=lambda v: v["created"] or "", reverse=True)

    async def detail(self, found: Found) -> dict:
        """The session's view, with ``phase`` Ready once its Connect server answers."""
        view = self.view(found)
        if view["phase"] == STARTING and (found.pod or {}).get("status", {}).get("phase") == "Running":
            uid = found.pod["metadata"]["uid"]
            if uid in self._ready or await self._answers(found):
                self._ready.add(uid)
                view["phase"], view["message"] = READY, "The Spark Connect server answers."
        return view

    async def _answers(self, found: Found) -> bool:
        try:
            return await connect_answers(self.registry.api(found.cluster), found.namespace,
                                         found.pod["metadata"]["name"], CONNECT_PORT)
        except Exception as err:  # noqa: BLE001 - not ready yet, whatever the reason
            log.debug("session %s: probe failed: %s", found.session_id, err)
            return False

    def view(self, found: Found) -> dict:
        """What the API shows of a session (without probing it)."""
        record = found.record
        phase, message = _phase(found)
        activity = self.activity.get(found.session_id)
        return {
            "id": found.session_id, "name": record.get("name"), "owner": found.owner, "cluster": found.cluster,
            "backend": found.backend.name, "executors": record.get("executors"), "cpu": record.get("cpu"),
            "memory": record.get("memory"), "gpus": record.get("gpus"), "image": record.get("image"),
            "created": record.get("created"), "phase": phase, "message": message.strip(),
            "placement": record.get("placement"), "tried": record.get("tried") or [],
            "connections": activity.connections if activity else 0,
            "idle_seconds": round(time.monotonic() - activity.last, 1) if activity else None,
            "tunnel": f"api/v1/sessions/{found.session_id}/tunnel",
            "ui_url": f"{self.gateway.settings.base_url}api/v1/sessions/{found.session_id}/ui/",
        }

    # ---- stopping ------------------------------------------------------------------------------
    async def stop(self, caller: Caller, session_id: str) -> dict:
        """Delete every object of the caller's session; its last view, phase Stopped. On a cluster that
        does not answer, the deletion is retried until it does."""
        found = await self.session(caller, session_id)
        view = self.view(found)
        self.known.pop(session_id, None)
        if found.lost:
            self.leftovers[session_id] = found.cluster
            self.activity.pop(session_id, None)
            return {**view, "phase": "Stopped", "message": f"{found.lost}; the session's objects there are "
                    "deleted as soon as it answers again."}
        try:
            await self._delete_objects(found.cluster, session_id)
        except KUBE_ERRORS as err:
            self.leftovers[session_id] = found.cluster
            raise ClusterUnavailable(f"Cluster {found.cluster} did not take the stop ({_unreachable(err)}); the "
                                     "gateway keeps trying to delete the session's objects there.") from None
        return {**view, "phase": "Stopped", "message": "Every object of the session was deleted."}

    async def _delete_objects(self, cluster: str, session_id: str) -> None:
        """Delete a session's pods and Services, then its anchor (which owns what else is left)."""
        api, namespace = self.registry.api(cluster), self.registry.members[cluster].namespace
        selector = kube.selector({LABEL_MANAGED_BY: SESSION_MANAGED_BY, LABEL_SESSION_ID: session_id})
        anchors = [kube.CONFIGMAPS, *([SPARKCONNECTS] if await self._serves_connect(cluster) else [])]
        for resource in (*SESSION_RESOURCES, *anchors):
            items = await kube.list_objects(api, resource, namespace, selector, metadata_only=True)
            await asyncio.gather(*(kube.delete(api, resource, namespace, o["metadata"]["name"], grace=0)
                                   for o in items))
        self.activity.pop(session_id, None)
        self.leftovers.pop(session_id, None)

    # ---- the tunnel and the timeouts -----------------------------------------------------------
    async def tunnel_target(self, caller: Caller, session_id: str, upgrade: bool) -> tuple[Found, Activity]:
        """The session to tunnel to: the caller's own (403 for anyone else, admins too), asked for with
        a WebSocket upgrade (else 400), and Ready (else 409)."""
        found = await self.session(caller, session_id)
        if caller.name != found.owner:
            raise Forbidden(f"Session {session_id} belongs to another user; only its owner may connect to it.")
        if not upgrade:
            raise BadRequest("This endpoint is the session's tunnel: a WebSocket carrying one connection of the "
                             "Spark Connect client (client.spark_session and %fedspark open it for you).")
        view = await self.detail(found)
        if view["phase"] != READY:
            raise GatewayError(f"Session {session_id} is not ready to connect: {view['message']}", 409)
        return found, self.activity.setdefault(session_id, Activity())

    def start(self) -> None:
        """Start stopping idle and detached sessions."""
        if self.settings.idle_timeout or self.settings.detached_timeout:
            self._reaper = asyncio.create_task(self._reap_forever())

    async def close(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
            await asyncio.gather(self._reaper, return_exceptions=True)

    async def _reap_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.check_interval)
            try:
                await self.reap()
            except Exception:  # noqa: BLE001 - the next round tries again
                log.exception("sessions: checking idle sessions failed")

    async def reap(self) -> list[str]:
        """Stop every session idle or detached past its timeout, and retry the deletions that failed
        before; the ids of the sessions stopped."""
        for session_id, cluster in list(self.leftovers.items()):
            try:
                await self._delete_objects(cluster, session_id)
                log.info("session %s: its leftover objects on %s are deleted", session_id, cluster)
            except KUBE_ERRORS as err:
                log.info("session %s: deleting its objects on %s failed again: %s", session_id, cluster, err)
        now, stopped = time.monotonic(), []
        for found in [f for f in await self._all() if not f.lost]:
            activity = self.activity.setdefault(found.session_id, Activity())
            why = idle_reason(activity, now, self.settings)
            if why:
                log.info("session %s of %s: %s; stopping it", found.session_id, found.owner, why)
                await self._delete_objects(found.cluster, found.session_id)
                stopped.append(found.session_id)
        return stopped


def idle_reason(activity: Activity, now: float, settings: Sessions) -> str | None:
    """Why a session is to be stopped now (None: it stays)."""
    if settings.idle_timeout and now - activity.last > settings.idle_timeout:
        return f"no traffic for {now - activity.last:.0f}s (c.Sessions.idle_timeout)"
    if (settings.detached_timeout and activity.detached_since is not None
            and now - activity.detached_since > settings.detached_timeout):
        return f"no tunnel open for {now - activity.detached_since:.0f}s (c.Sessions.detached_timeout)"
    return None


def _phase(found: Found) -> tuple[str, str]:
    """A session's phase and what to say about it, from its server pod (and its cluster's health)."""
    if found.lost:
        return FAILED, (f"{found.lost}: the session cannot run queries now. `%fedspark start --restart` stops it "
                        "and starts a new one on a cluster that answers.")
    if found.pod is None:
        if found.backend.resource is not None:
            return STARTING, "The Spark operator is creating the Connect server's pod."
        return FAILED, ("The session's driver pod is gone (deleted or evicted), so the session cannot run queries. "
                        "`%fedspark start --restart` stops it and starts a new one.")
    status = found.pod.get("status") or {}
    pod_phase = status.get("phase") or "Pending"
    if pod_phase == "Running":
        return STARTING, "The driver runs; waiting for the Spark Connect server to answer."
    if pod_phase in ("Failed", "Succeeded"):
        return FAILED, ("The session's driver ended; `%fedspark start --restart` stops it and starts a new one. "
                        + (status.get("message") or ""))
    return STARTING, "Waiting for the driver pod to start."


async def _create(api, manifest: dict) -> dict:
    """Create one of a session's objects (a SparkConnect too, which is no job's resource)."""
    if manifest["kind"] == SPARKCONNECT.kind:
        return await kube.request(api, "POST", SPARKCONNECTS.path(manifest["metadata"]["namespace"]), body=manifest)
    return await kube.create(api, manifest)


def _owner_reference(owner: dict) -> dict:
    """An ownerReference to ``owner`` (a created object), so deleting it deletes what it owns."""
    meta = owner["metadata"]
    return {"apiVersion": owner.get("apiVersion", "v1"), "kind": owner["kind"], "name": meta["name"],
            "uid": meta["uid"], "blockOwnerDeletion": False}


def _unreachable(err: BaseException) -> str:
    """Why a cluster refused a call, for people (with the apiserver's own words, e.g. a quota's)."""
    if isinstance(err, ApiException):
        try:
            said = json.loads(err.body or "{}").get("message")
        except (ValueError, AttributeError):
            said = None
        return f"the apiserver refused it ({err.status}: {said or err.reason})"
    return f"unreachable ({type(err).__name__})"
