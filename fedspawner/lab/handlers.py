"""The Lab server extension's REST API: what the browser calls, forwarded to the gateway.

Every route lives under ``{base_url}fedspawner/`` (e.g. ``/user/alice/fedspawner/jobs``
on a hub, ``/fedspawner/jobs`` in a plain ``jupyter lab``), answers JSON unless said
otherwise, and needs the usual Jupyter server authentication (the browser's cookie and
``X-XSRFToken`` header, as ``@jupyterlab/services``' ``ServerConnection`` sends them);
an unauthenticated request gets 403. The server forwards each call to the fedspawner
gateway with its own ``JUPYTERHUB_API_TOKEN``: the browser never sees that token or any
cluster credential.

Errors, on every route: ``{"message": "<one paragraph for people>", "reason": "<code>"}``
with these statuses and reasons:

- the gateway's own 4xx status and message, reason ``bad_request`` (400), ``unauthorized``
  (401), ``forbidden`` (403), ``not_found`` (404), ``method_not_allowed`` (405, with an
  ``Allow`` header), ``too_large`` (413), ``unsatisfiable`` (422) or ``gateway`` (any other
  4xx);
- 503 ``not_configured``: no gateway is configured (a ``jupyter lab`` without a hub); the
  message says to set ``FEDSPAWNER_GATEWAY_URL`` (and ``JUPYTERHUB_API_TOKEN``) or
  ``c.FedspawnerLabApp.gateway_url``;
- 503 ``unreachable``: the gateway did not answer (down, restarting, timed out), or said
  a member cluster did not answer (its own 503); the panel should back off and retry;
- 502 ``gateway``: the gateway failed (its 5xx), with its message;
- the same 4xx for input this server refuses itself, by the gateway's own rules
  (``fedspawner.api_input``): a query parameter the route does not take, given twice, not
  UTF-8, holding control characters or out of its range (numbers in ASCII digits); a body
  that is not JSON or nests it deeper than 32 levels (400); a body over 4 MiB (413); a
  method the route does not take (405); any other path under ``fedspawner/`` (404).
  Never a 500 for anything a user can cause, and never a proxy's HTML page as a message.

Routes
------
``GET config``
    ``{"configured": bool, "gateway_url": str | null, "user": str | null,
    "is_admin": bool, "reachable": bool | null, "message": str | null,
    "hint": str | null, "version": "<fedspawner version>"}``. Always 200 (also when no
    gateway is configured or it is down): ``configured`` says whether a gateway URL and
    token are known; ``reachable`` whether the gateway answered just now (null when not
    configured); ``user``/``is_admin`` are the gateway's answer for this server's token
    (``is_admin``: may use ``all=1``); ``hint`` says how to configure the gateway when it
    is not; ``message`` why it is unreachable.

``GET clusters[?since=VERSION&wait=SECONDS]``
    ``{"version": str, "clusters": [Cluster, ...]}`` — the gateway's ``Cluster`` objects
    (name, site, owner, healthy, health_reason, GPU types with free counts, exact or "up
    to", backends, ``taken_at``). With ``since`` (the last answer's ``version``) the
    answer waits up to ``wait`` seconds (default 25, at most 30) until what this user
    sees changes, then answers at once; after ``wait`` it answers the same version.

``GET options``
    The option schema, the one source of truth for the submit dialog and ``%%fedsubmit``:
    ``{"version": str, "options": [Option, ...], "kinds": [...], "clusters": [...],
    "gpu_types": [{"name", "display", "clusters"}...]}``. Each ``Option``:
    ``{"name", "label", "type", "help", "default", "kinds": [kinds it applies to],
    "required", "flag"}`` plus per type ``choices`` (``enum``), ``minimum``/``maximum``
    (``integer``), ``pattern``/``max_length`` (``string``, regexes valid in Python and
    JavaScript), ``item_pattern``/``max_items``/``item_max_length`` (``list``),
    ``key_pattern``/``max_items``/``value_max_length``/``reserved_keys``/
    ``reserved_prefixes`` (``mapping``), ``count_minimum``/``count_maximum`` and
    ``choices`` (``gpus``: canonical types known to the federation), ``choices`` and
    ``max_items`` (``clusters``: ``"auto"`` or an ordered list of member names). The
    gateway re-checks everything on submission; the schema is for early, identical
    messages.

``GET jobs[?since=VERSION&wait=SECONDS&all=1&state=STATE]``
    The caller's jobs feed: ``{"version": str, "jobs": [JobRow, ...], "unavailable":
    [{"cluster", "reason"}, ...]}``, newest first. ``state`` is one of pending, running,
    succeeded, failed; ``all=1`` (admins only, else 403) lists every user's jobs. With
    ``since``, waits up to ``wait`` seconds (default 25, at most 30) until this view
    changes and answers within a second of a pod changing phase; otherwise at once.
    ``JobRow``: ``{"id", "name", "kind", "owner", "cluster", "backend", "gpu_type",
    "gpu_display", "gpus_per_node", "nodes", "phase", "message", "ranks": {"ready",
    "total"}, "created", "started", "finished", "origin": {"path", "cell"} | null}``.
    Phases: Pending, Running, Succeeded, Failed (a cancelled job leaves the feed).

``POST jobs``
    Body: a job spec (``kind``, ``script`` and the options above: ``name``, ``cluster``,
    ``gpus`` as ``{"type", "count"}`` or ``"TYPE:N"``, ``nodes``, ``image``, ``packages``,
    ``env``, ``executors``, ``conf``, ``cpu``, ``memory``, ``language``, ``retries``,
    ``timeout``) plus optional ``origin``: ``{"path": "<notebook path, relative to the
    server root>", "cell": "<nbformat cell id>" (optional)}``. 201 ``{"job": Job}``.

``GET jobs/{id}``
    ``{"job": Job}``: the gateway's full ``Job`` (phase, message, ``pods`` per rank with
    role/phase/ready/reason, progress, ``ui_url`` for Spark, history, ``origin``) with
    ``job.spec``: the submitted spec (script included, with its ``cluster`` request and
    ``origin``) that ``POST jobs`` accepts as is, to resubmit (null for a job without one).

``DELETE jobs/{id}``
    Cancel: 202 ``{"job": Job}`` at once (phase ``Cancelled``, the message saying what is
    still being deleted); the gateway deletes every object in the background, and
    ``GET jobs/{id}`` answers 404 once nothing is left.

``GET jobs/{id}/logs?rank=R&tail=N&follow=1&container=NAME``
    ``text/plain`` of one rank (rank 0: the driver for Spark), streamed as it arrives.
    With ``follow=1`` the answer starts at once and waits for a pending pod to start,
    then streams until the pod ends or the client goes; without it, the log so far.
    ``download=1``: the whole log so far as an attachment
    (``Content-Disposition: attachment; filename="<name>-<id>-rank<R>.log"``).
    Errors before the stream starts are JSON as above.

``GET sessions``
    The caller's interactive Spark sessions, newest first: ``{"sessions": [Session, ...]}``,
    the gateway's ``Session`` objects (``id``, ``name``, ``owner``, ``cluster``,
    ``executors``, ``cpu``, ``memory``, ``phase`` Starting/Ready/Failed, ``message``,
    ``created``, ``connections``, ``idle_seconds``, ``ui_url``: the Spark UI, a path on the
    hub's origin that the browser opens itself).

``DELETE sessions/{id}``
    Stop a session: every object of it is deleted from its cluster; ``{"session": Session}``
    with phase ``Stopped``.
"""

from __future__ import annotations

import asyncio
import logging
import re

from jupyter_server.base.handlers import APIHandler
from tornado import web
from tornado.iostream import StreamClosedError

from .. import __version__
from ..api_input import (CLUSTERS_QUERY, JOBS_FEED_QUERY, LOGS_QUERY, MAX_BODY_BYTES, Flag, InputError,
                         allowed_methods, read_json, read_query, too_large)
from ..client.gateway import is_job_id
from ..jobs.vocabulary import is_session_id
from .upstream import REASONS, RelayError, Upstream, dumps

log = logging.getLogger("fedspawner.lab")

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class LabHandler(APIHandler):
    """Base of the extension's handlers: the upstream gateway, the query, JSON errors.

    ``queries`` declares the query parameters each method takes (``api_input`` tables, shared with
    the gateway); ``self.query`` holds them read, for an authenticated request, before the method
    runs. A body over ``MAX_BODY_BYTES`` is refused with a 413 before anything is forwarded.
    """

    queries: dict[str, dict] = {}

    def initialize(self) -> None:
        self.query: dict = {}

    async def prepare(self) -> None:
        await super().prepare()
        if self.current_user is None:
            return  # the method's @web.authenticated answers 403
        if len(self.request.body or b"") > MAX_BODY_BYTES:
            raise too_large(len(self.request.body), MAX_BODY_BYTES)
        self.query = read_query(self.request.query_arguments, self.queries.get(self.request.method, {}))

    @property
    def upstream(self) -> Upstream:
        return self.settings["fedspawner_upstream"]

    def long_poll(self) -> tuple[dict[str, str], float]:
        """``since`` and ``wait`` to pass on, and the seconds the gateway may hold the request."""
        since = self.query.get("since")
        if not since:
            return {}, 0.0
        wait = self.query.get("wait", 25.0)
        return {"since": since, "wait": f"{wait:g}"}, wait

    def job_path(self, job_id: str, *rest: str) -> str:
        if not is_job_id(job_id):
            raise RelayError(400, "bad_request", f"{job_id[:40]!r} is not a job id: ids look like 'j-abcd2345'.")
        return "/".join(["jobs", job_id, *rest])

    def reply(self, data: dict, status: int = 200) -> None:
        self.set_status(status)
        self.finish(dumps(data))

    def write_error(self, status_code: int, **kwargs) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, RelayError):
            error = exc
        elif isinstance(exc, InputError):
            error = RelayError(exc.status, REASONS.get(exc.status, "bad_request"), exc.message)
        elif isinstance(exc, web.HTTPError):
            message = exc.log_message % exc.args if exc.log_message and exc.args else exc.log_message
            if exc.status_code == 405:
                message = "This route does not take that method; the Allow header lists those it takes."
            error = RelayError(exc.status_code, REASONS.get(exc.status_code, "error"),
                               message or exc.reason or "Request failed.")
        else:
            error = RelayError(500, "error", "The fedspawner server extension failed unexpectedly; the error is in "
                                             "the server's log. Try again.")
        if self._headers_written:  # mid-stream: the status is sent already; just end
            if not self._finished:
                self.finish()
            return
        self.clear_header("Content-Disposition")
        self.set_status(error.status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        if error.status == 405:
            self.set_header("Allow", ", ".join(allowed_methods(type(self), web.RequestHandler)))
        self.finish(dumps(error.to_json()))

    def log_exception(self, typ, value, tb) -> None:
        if isinstance(value, (RelayError, InputError)):
            log.info("%s %s: %s %s", self.request.method, self.request.path, value.status, value.message)
        else:
            super().log_exception(typ, value, tb)


class ConfigHandler(LabHandler):
    @web.authenticated
    async def get(self) -> None:
        upstream = self.upstream
        user = self.current_user
        answer = {"configured": upstream.configured, "gateway_url": upstream.url,
                  "user": getattr(user, "username", None) or getattr(user, "name", None), "is_admin": False,
                  "reachable": None, "message": None, "hint": upstream.hint, "version": __version__}
        if upstream.configured:
            try:
                me = await upstream.call("GET", "user")
                answer.update(user=me.get("name"), is_admin=bool(me.get("admin")), reachable=True)
            except RelayError as err:
                answer.update(reachable=err.reason != "unreachable", message=err.message)
        self.reply(answer)


class ClustersHandler(LabHandler):
    queries = {"GET": CLUSTERS_QUERY}

    @web.authenticated
    async def get(self) -> None:
        params, wait = self.long_poll()
        self.reply(await self.upstream.call("GET", "clusters", params, extra_wait=wait))


class OptionsHandler(LabHandler):
    @web.authenticated
    async def get(self) -> None:
        self.reply(await self.upstream.call("GET", "options"))


class JobsHandler(LabHandler):
    queries = {"GET": JOBS_FEED_QUERY}

    @web.authenticated
    async def get(self) -> None:
        params, wait = self.long_poll()
        if self.query.get("all"):
            params["all"] = "1"
        if self.query.get("state"):
            params["state"] = self.query["state"]
        self.reply(await self.upstream.call("GET", "jobs/feed", params, extra_wait=wait))

    @web.authenticated
    async def post(self) -> None:
        body = read_json(self.request.body or b"", MAX_BODY_BYTES)
        self.reply(await self.upstream.call("POST", "jobs", body=body), status=201)


class PlanHandler(LabHandler):
    """``POST jobs/plan``: where a spec would go and why, creating nothing (the dialog's check)."""

    @web.authenticated
    async def post(self) -> None:
        body = read_json(self.request.body or b"", MAX_BODY_BYTES)
        self.reply(await self.upstream.call("POST", "jobs/plan", body=body))


class JobHandler(LabHandler):
    @web.authenticated
    async def get(self, job_id: str) -> None:
        self.reply(await self.upstream.call("GET", self.job_path(job_id)))

    @web.authenticated
    async def delete(self, job_id: str) -> None:
        self.reply(await self.upstream.call("DELETE", self.job_path(job_id)), status=202)


class LogsHandler(LabHandler):
    """A rank's log: the text so far, a download of it, or followed as it grows."""

    queries = {"GET": {**LOGS_QUERY, "download": Flag()}}

    def initialize(self) -> None:
        super().initialize()
        self.pump: asyncio.Task | None = None

    @web.authenticated
    async def get(self, job_id: str) -> None:
        path = self.job_path(job_id, "logs")
        params = {key: self.query[key] for key in ("rank", "tail", "container") if key in self.query}
        if self.query.get("download"):
            job = (await self.upstream.call("GET", self.job_path(job_id))).get("job") or {}
            text = await self.upstream.send("GET", path, params)
            name = _SAFE_NAME.sub("-", f"{job.get('name') or 'job'}-{job_id}-rank{params.get('rank', 0)}.log")
            self.set_header("Content-Disposition", f'attachment; filename="{name}"')
            self.finish(text, set_content_type="text/plain; charset=utf-8")
            return
        if not self.query.get("follow"):
            text = await self.upstream.send("GET", path, params)
            self.finish(text, set_content_type="text/plain; charset=utf-8")
            return
        self.pump = asyncio.ensure_future(self._follow(path, {**params, "follow": "1"}))
        try:
            await self.pump
        except asyncio.CancelledError:  # the browser left: the gateway's stream is closed with the task
            return
        if not self._finished:
            self.finish(set_content_type="text/plain; charset=utf-8")

    async def _follow(self, path: str, params: dict) -> None:
        async for chunk in self.upstream.stream(path, params):
            if not self._headers_written:
                self.set_header("Content-Type", "text/plain; charset=utf-8")
                self.set_header("X-Accel-Buffering", "no")
            try:
                self.write(chunk)
                await self.flush()
            except StreamClosedError:
                return

    def on_connection_close(self) -> None:
        if self.pump is not None:
            self.pump.cancel()


class SessionsHandler(LabHandler):
    @web.authenticated
    async def get(self) -> None:
        self.reply(await self.upstream.call("GET", "sessions"))


class SessionHandler(LabHandler):
    @web.authenticated
    async def delete(self, session_id: str) -> None:
        if not is_session_id(session_id):
            raise RelayError(400, "bad_request", f"{session_id[:40]!r} is not a session id: ids look like "
                                                 "'s-abcd2345'.")
        self.reply(await self.upstream.call("DELETE", f"sessions/{session_id}"))


class NotFoundHandler(LabHandler):
    """Any other path under ``fedspawner/``: a JSON 404, whatever the method."""

    async def prepare(self) -> None:
        raise RelayError(404, "not_found", "No such fedspawner route: the routes are config, clusters, options, "
                                           "jobs, jobs/plan, jobs/{id}, jobs/{id}/logs, sessions and "
                                           "sessions/{id}.")


def handlers() -> list[tuple[str, type]]:
    """The routes under the server's base URL."""
    job = r"(?P<job_id>[^/]+)"
    return [
        (r"/fedspawner/config", ConfigHandler), (r"/fedspawner/clusters", ClustersHandler),
        (r"/fedspawner/options", OptionsHandler), (r"/fedspawner/jobs", JobsHandler),
        (r"/fedspawner/jobs/plan", PlanHandler),
        (rf"/fedspawner/jobs/{job}", JobHandler), (rf"/fedspawner/jobs/{job}/logs", LogsHandler),
        (r"/fedspawner/sessions", SessionsHandler), (r"/fedspawner/sessions/(?P<session_id>[^/]+)", SessionHandler),
        (r"/fedspawner/.*", NotFoundHandler),
    ]
