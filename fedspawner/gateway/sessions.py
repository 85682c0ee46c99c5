"""Interactive Spark sessions: a Spark Connect server per session on a member cluster.

``SessionService`` creates, lists, shows and stops sessions for authenticated callers.
A session is placed like a Spark job (``planning.plan`` over the same spec and the same
checks: the conf allow-list, the image allow-list, the administrators' limits) and rendered
by ``jobs.render.spark_connect``. The member clusters are the record: a session is its
objects, labelled with its id, and its driver pod's ``fedspawner.dev/session`` annotation
holds what the gateway shows of it. The gateway remembers only when each session's tunnel
last carried traffic, for the idle and detached timeouts (``c.Sessions``).
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
from ..jobs.render import RenderTarget
from ..jobs.render.spark_connect import (CONNECT_PORT, LABEL_SESSION_ID, SESSION_MANAGED_BY, SESSION_SCRIPT,
                                         driver_pod_name, render_spark_connect)
from ..jobs.labels import ANNOTATION_OWNER_NAME, LABEL_MANAGED_BY
from ..jobs.spec import generate_name
from ..jobs.vocabulary import ID_CHARS
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
SESSION_FIELDS = ("name", "cluster", "executors", "cpu", "memory", "conf", "image")
ANNOTATION_SESSION = "fedspawner.dev/session"
#: What a session is made of on its cluster, deleted in this order on stop.
SESSION_RESOURCES = (kube.PODS, kube.SERVICES, kube.CONFIGMAPS)
STARTING, READY, FAILED = "Starting", "Ready", "Failed"


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
    """A session's driver pod on its cluster."""

    cluster: str
    namespace: str
    pod: dict

    @property
    def record(self) -> dict:
        raw = (self.pod["metadata"].get("annotations") or {}).get(ANNOTATION_SESSION) or "{}"
        try:
            return json.loads(raw)
        except ValueError:
            return {}

    @property
    def session_id(self) -> str:
        return self.pod["metadata"]["labels"][LABEL_SESSION_ID]

    @property
    def owner(self) -> str | None:
        return (self.pod["metadata"].get("annotations") or {}).get(ANNOTATION_OWNER_NAME)


class SessionService:
    """The gateway's sessions operations, on top of its ``GatewayService``."""

    def __init__(self, gateway, settings: Sessions):
        self.gateway = gateway
        self.registry = gateway.registry
        self.auth = gateway.auth
        self.settings = settings
        self.activity: dict[str, Activity] = {}
        self._ready: set[str] = set()  # driver pod uids whose Connect server answered once
        self._reaper: asyncio.Task | None = None

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
                      "memory": spec.memory, "image": spec.image, "created": now_iso(),
                      "placement": reasons.get(cluster, cluster), "tried": list(tried)}
            try:
                found = await self._create_on(cluster, session_id, spec, caller.name, record)
            except CreateFailed as err:
                tried.append(f"{cluster}: {err}")
                continue
            self.activity[session_id] = Activity()
            return self.view(found)
        raise ClusterUnavailable(f"No member cluster could take the session now: {'; '.join(tried)}. "
                                 "Try again shortly.")

    async def _create_on(self, cluster: str, session_id: str, spec: JobSpec, owner: str, record: dict) -> Found:
        namespace = self.registry.members[cluster].namespace
        target = RenderTarget(namespace=namespace, job_id=session_id, owner=owner, backend="spark-standalone",
                              avoid_gpu_nodes=self.registry.inventories[cluster].avoid_gpu_nodes())
        objects = render_spark_connect(spec, target)
        driver = next(o for o in objects if o["metadata"]["name"] == driver_pod_name(spec.name))
        driver["metadata"]["annotations"][ANNOTATION_SESSION] = json.dumps(record)
        if manifest_violations(objects, namespace):
            raise GatewayError("The gateway rendered a session that breaks its own sandbox rules; nothing was "
                               "created. This is a fault of fedspawner, logged for the administrators.", 500)
        api = self.registry.api(cluster)
        created: list[dict] = []
        try:
            for manifest in objects:
                created.append(await kube.create(api, manifest))
        except (ApiException, OSError, asyncio.TimeoutError) as err:
            try:
                await self._delete_objects(cluster, session_id)
            except (ApiException, OSError, asyncio.TimeoutError) as left:  # labelled: a later stop finds it
                log.warning("session %s: removing what was created on %s failed: %s", session_id, cluster, left)
            why = f"the apiserver refused it ({err.status}: {err.reason})" if isinstance(err, ApiException) \
                else f"unreachable ({type(err).__name__})"
            raise CreateFailed(why) from None
        return Found(cluster, namespace, next(o for o in created if o["kind"] == "Pod"))

    # ---- finding -------------------------------------------------------------------------------
    async def _all(self, session_id: str | None = None) -> list[Found]:
        """Every session's driver pod on every healthy cluster (one session's with ``session_id``)."""
        labels = {LABEL_MANAGED_BY: SESSION_MANAGED_BY, "fedspawner.dev/component": "driver"}
        if session_id:
            labels[LABEL_SESSION_ID] = session_id
        healthy = [c.name for c in self.registry.snapshot().clusters if c.healthy]

        async def on(cluster: str) -> list[Found]:
            namespace = self.registry.members[cluster].namespace
            try:
                pods = await kube.list_objects(self.registry.api(cluster), kube.PODS, namespace,
                                               kube.selector(labels))
            except (ApiException, OSError, asyncio.TimeoutError) as err:
                log.warning("sessions: listing on %s failed: %s", cluster, err)
                return []
            return [Found(cluster, namespace, pod) for pod in pods]
        found = await asyncio.gather(*(on(c) for c in healthy))
        return [s for group in found for s in group]

    async def session(self, caller: Caller, session_id: str) -> Found:
        """The caller's session ``session_id``; 404 when there is none, 403 when it is someone else's."""
        found = await self._all(session_id) if _looks_like_id(session_id) else []
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
        if view["phase"] == STARTING and found.pod["status"].get("phase") == "Running":
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
        record, status = found.record, found.pod.get("status") or {}
        pod_phase = status.get("phase") or "Pending"
        phase, message = STARTING, "Waiting for the driver pod to start."
        if pod_phase == "Running":
            message = "The driver runs; waiting for the Spark Connect server to answer."
        elif pod_phase in ("Failed", "Succeeded"):
            phase, message = FAILED, ("The session's driver ended; stop the session and start a new one. "
                                      + (status.get("message") or ""))
        activity = self.activity.get(found.session_id)
        return {
            "id": found.session_id, "name": record.get("name"), "owner": found.owner, "cluster": found.cluster,
            "executors": record.get("executors"), "cpu": record.get("cpu"), "memory": record.get("memory"),
            "image": record.get("image"), "created": record.get("created"), "phase": phase,
            "message": message.strip(), "placement": record.get("placement"), "tried": record.get("tried") or [],
            "connections": activity.connections if activity else 0,
            "idle_seconds": round(time.monotonic() - activity.last, 1) if activity else None,
            "tunnel": f"api/v1/sessions/{found.session_id}/tunnel",
            "ui_url": f"{self.gateway.settings.base_url}api/v1/sessions/{found.session_id}/ui/",
        }

    # ---- stopping ------------------------------------------------------------------------------
    async def stop(self, caller: Caller, session_id: str) -> dict:
        """Delete every object of the caller's session; its last view, phase Stopped."""
        found = await self.session(caller, session_id)
        await self._delete_objects(found.cluster, session_id)
        return {**self.view(found), "phase": "Stopped", "message": "Every object of the session was deleted."}

    async def _delete_objects(self, cluster: str, session_id: str) -> None:
        api, namespace = self.registry.api(cluster), self.registry.members[cluster].namespace
        selector = kube.selector({LABEL_MANAGED_BY: SESSION_MANAGED_BY, LABEL_SESSION_ID: session_id})
        for resource in SESSION_RESOURCES:
            items = await kube.list_objects(api, resource, namespace, selector, metadata_only=True)
            await asyncio.gather(*(kube.delete(api, resource, namespace, o["metadata"]["name"], grace=0)
                                   for o in items))
        self.activity.pop(session_id, None)

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
        """Stop every session idle or detached past its timeout; their ids."""
        now, stopped = time.monotonic(), []
        for found in await self._all():
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


def _looks_like_id(text: str) -> bool:
    return len(text) == 2 + ID_CHARS and text.startswith("s-") and text[2:].isalnum()
