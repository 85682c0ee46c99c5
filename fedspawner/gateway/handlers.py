"""The REST API v1 (tornado handlers); the OpenAPI document is ``openapi.yaml``.

Handlers are thin: parse the request, call ``GatewayService``, write JSON. Every error
is answered as ``{"status": <code>, "message": "<one paragraph>"}``: 4xx for anything a
caller can cause, 5xx only when the gateway or a member cluster fails, and never a
traceback (unexpected errors are logged with one, and answered without).
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import secrets
from pathlib import Path

import yaml
from jupyterhub.utils import url_path_join
from kubernetes_asyncio.client.rest import ApiException
from tornado import web
from tornado.iostream import StreamClosedError

from ..api_input import (CLUSTERS_QUERY, JOBS_FEED_QUERY, JOBS_QUERY, LOGS_QUERY, InputError, allowed_methods,
                         read_json, read_query, too_large)
from ..digits import whole_number
from ..errors import UserError
from ..federation import multikueue
from ..federation.unreachable import UNREACHABLE
from . import logs
from .errors import GatewayError, NotFound
from .feed import JobFeed
from .model import JobObjects
from .service import GatewayService

log = logging.getLogger("fedspawner.gateway")

OPENAPI = Path(__file__).with_name("openapi.yaml")


def error_answer(exc: BaseException | None, status: int) -> tuple[int, str]:
    """The status and message to answer for an exception raised while handling a request."""
    if isinstance(exc, (GatewayError, InputError)):
        return exc.status, exc.message
    if isinstance(exc, UserError):  # a job spec (JobSpecError) or anything else a caller got wrong
        return 400, exc.message
    if isinstance(exc, web.HTTPError):
        text = exc.log_message % exc.args if exc.log_message and exc.args else exc.log_message
        return exc.status_code, text or _STATUS_TEXT.get(exc.status_code) or exc.reason or "Request failed."
    if isinstance(exc, ApiException):
        return 502, (f"A member cluster answered with an error ({exc.status}: {exc.reason}). The request did "
                     "not complete; try again, and tell the administrators if it persists.")
    if isinstance(exc, UNREACHABLE):
        return 503, "A member cluster did not answer in time. Try again shortly."
    return status, _STATUS_TEXT.get(status, "Request failed.")


_STATUS_TEXT = {
    404: "No such endpoint. The API is described at api/v1/openapi.json.",
    405: "This endpoint does not take that method; the Allow header lists those it takes (see "
         "api/v1/openapi.json).",
    500: "The gateway failed unexpectedly. The error is logged for the administrators; try again.",
}
#: Bodies over the limit are read to their end (and dropped) before the 413, so the connection
#: stays usable and a proxy in front relays the answer; beyond this many bytes the 413 comes at
#: once and the connection is closed.
DRAIN_BYTES = 2**30
_HTTP_METHODS = ("get", "head", "post", "put", "patch", "delete", "options")


def _admitted(method):
    """``method`` run after ``ApiHandler.admit``."""
    @functools.wraps(method)
    async def run(self, *args, **kwargs):
        await self.admit()
        result = method(self, *args, **kwargs)
        if inspect.isawaitable(result):
            await result
    return run


@web.stream_request_body
class ApiHandler(web.RequestHandler):
    """JSON in, JSON out, errors as JSON; ``self.caller`` and ``self.query`` are set before each
    method runs.

    ``queries`` declares the query parameters each method takes (``api_input`` tables, shared with
    the Lab server extension); anything else is a 400. The body is read as it arrives, at most
    ``c.Gateway.max_body_bytes`` of it kept; a longer one is a 413.

    Every HTTP method a subclass defines runs after ``admit`` (authentication, the query, the
    body's size), once the body is read: an answer given before that, while the client may
    still be sending, would close the connection under the hub's proxy.
    """

    authenticated = True
    queries: dict[str, dict] = {}

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        for name in _HTTP_METHODS:
            if name in cls.__dict__:
                setattr(cls, name, _admitted(cls.__dict__[name]))

    def initialize(self, service: GatewayService) -> None:
        self.service = service
        self.caller = None
        self.closed = False
        self.query: dict = {}
        self.body = bytearray()
        self.received = 0

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.set_header("Cache-Control", "no-store")

    @property
    def body_limit(self) -> int:
        return self.service.settings.max_body_bytes

    def prepare(self) -> None:
        length = whole_number(self.request.headers.get("Content-Length", ""))
        if length is not None and length > DRAIN_BYTES:
            raise too_large(length, self.body_limit)

    def data_received(self, chunk: bytes) -> None:
        self.received += len(chunk)
        if self.received > DRAIN_BYTES:
            raise too_large(f"more than {DRAIN_BYTES:,} bytes", self.body_limit)
        if self.received <= self.body_limit:
            self.body += chunk

    async def admit(self) -> None:
        """Refuse a body over the limit (413), authenticate the caller (401, 403) and read the query
        (400); run before every method."""
        if self.received > self.body_limit:
            raise too_large(self.received, self.body_limit)
        if self.authenticated:
            self.caller = await self.service.auth.caller(self)
        self.query = read_query(self.request.query_arguments, self.queries.get(self.request.method, {}))

    def on_connection_close(self) -> None:
        self.closed = True

    def check_xsrf_cookie(self) -> None:
        """Token-authenticated API: no cookies, so no XSRF check."""

    def write_json(self, data: dict, status: int = 200) -> None:
        self.set_status(status)
        self.finish(json.dumps(data))

    def long_poll(self) -> tuple[str, float]:
        """``since`` and ``wait`` of a long-polled endpoint (waiting only with ``since``), the wait
        cut to ``c.Gateway.long_poll_max_wait``."""
        limit = self.service.settings.long_poll_max_wait
        wait = min(self.query.get("wait", min(25.0, limit)), limit)
        since = self.query.get("since", "")
        return since, wait if since else 0.0

    def json_body(self) -> object:
        return read_json(bytes(self.body), self.body_limit)

    def log_exception(self, typ, value, tb) -> None:
        status, _ = error_answer(value, 500)
        if status >= 500 and not isinstance(value, GatewayError):
            log.error("%s %s failed", self.request.method, self.request.path, exc_info=(typ, value, tb))
        elif status >= 500:
            log.warning("%s %s: %s", self.request.method, self.request.path, value)
        else:
            log.info("%s %s: %s %s", self.request.method, self.request.path, status, value)

    def write_error(self, status_code: int, **kwargs) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        status, message = error_answer(exc, status_code)
        if status == 500 and not isinstance(exc, GatewayError):
            reference = secrets.token_hex(4)
            log.error("error reference %s for %s %s", reference, self.request.method, self.request.path)
            message += f" (reference {reference})"
        self.clear_header("Content-Disposition")
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        if status == 401:
            self.set_header("WWW-Authenticate", 'token realm="JupyterHub"')
        if status == 405:
            self.set_header("Allow", ", ".join(allowed_methods(type(self), web.RequestHandler)))
        self.finish(json.dumps({"status": status, "message": message}))


class ClustersHandler(ApiHandler):
    queries = {"GET": CLUSTERS_QUERY}

    async def get(self) -> None:
        since, wait = self.long_poll()
        self.write_json(await self.service.clusters_feed(self.caller, since, wait))


class OptionsHandler(ApiHandler):
    def get(self) -> None:
        self.write_json(self.service.options())


class UserHandler(ApiHandler):
    def get(self) -> None:
        caller = self.caller
        self.write_json({"name": caller.name, "admin": caller.admin, "groups": sorted(caller.groups)})


class JobsFeedHandler(ApiHandler):
    queries = {"GET": JOBS_FEED_QUERY}

    async def get(self) -> None:
        since, wait = self.long_poll()
        everyone, state = self.query.get("all", False), self.query.get("state")
        self.write_json(await self.service.jobs_feed(self.caller, everyone, state, since, wait))


class BudgetHandler(ApiHandler):
    def get(self) -> None:
        self.write_json({"budget": self.service.budget(self.caller)})


class JobsHandler(ApiHandler):
    queries = {"GET": JOBS_QUERY}

    async def get(self) -> None:
        everyone, state = self.query.get("all", False), self.query.get("state")
        self.write_json(await self.service.list_jobs(self.caller, everyone, state))

    async def post(self) -> None:
        job = await self.service.submit(self.caller, self.json_body())
        self.set_header("Location", url_path_join(self.request.path, job["id"]))
        self.write_json({"job": job}, status=201)


class PlanHandler(ApiHandler):
    async def post(self) -> None:
        self.write_json(await self.service.plan_job(self.caller, self.json_body()))


class JobHandler(ApiHandler):
    async def get(self, job_id: str) -> None:
        self.write_json({"job": await self.service.job_detail(self.caller, job_id)})

    async def delete(self, job_id: str) -> None:
        self.write_json({"job": await self.service.cancel(self.caller, job_id)}, status=202)


class StreamHandler(ApiHandler):
    """Base of the streaming endpoints: write, flush, stop when the client goes."""

    async def send(self, data: bytes | str) -> bool:
        """Write and flush; False once the client has gone."""
        if self.closed:
            return False
        try:
            self.write(data)
            await self.flush()
        except StreamClosedError:
            self.closed = True
        return not self.closed

    def write_error(self, status_code: int, **kwargs) -> None:
        if self._headers_written:  # mid-stream: the status is sent already; just end
            if not self._finished:
                self.finish()
            return
        super().write_error(status_code, **kwargs)


class WatchHandler(StreamHandler):
    async def get(self, job_id: str) -> None:
        job = await self.service.job(self.caller, job_id)
        self.set_header("Content-Type", "application/x-ndjson")
        self.set_header("X-Accel-Buffering", "no")
        lines = JobFeed(self.service, job).lines()
        try:
            async for line in lines:
                if not await self.send(json.dumps(line) + "\n"):
                    return
        finally:
            await lines.aclose()
        if not self.closed:
            self.finish()


class LogsHandler(StreamHandler):
    queries = {"GET": LOGS_QUERY}

    async def get(self, job_id: str) -> None:
        rank, tail = self.query.get("rank", 0), self.query.get("tail")
        follow, container = self.query.get("follow", False), self.query.get("container")
        job = await self.service.job(self.caller, job_id)
        pod = logs.pod_for_rank(job, rank)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        if pod is None and (elsewhere := self._elsewhere(job)):
            self.finish(elsewhere)
            return
        if not follow:
            text = ""
            if pod is not None:
                api = self.service.registry.api(job.cluster)
                text = await logs.read(api, job.namespace, pod, logs.container_of(pod, container), tail)
            self.finish(text)
            return
        self.set_header("X-Accel-Buffering", "no")
        if pod is not None:
            logs.container_of(pod, container)  # a wrong container name is a 400 now, not after a wait
        if not await self.send(b""):
            return
        job, started = await self._wait_started(job, rank, container)
        if started is None:
            if not self.closed and (elsewhere := self._elsewhere(job)):
                if await self.send(elsewhere.encode()):
                    self.finish()
            return
        pod, name = started
        async for chunk in logs.stream(self.service.registry.api(job.cluster), job.namespace, pod, name, tail):
            if not await self.send(chunk):
                return
        self.finish()

    async def _wait_started(self, job: JobObjects, rank: int, container: str | None
                            ) -> tuple[JobObjects, tuple[dict, str] | None]:
        """The job (it may have moved) and, once the rank's container has started, its pod and
        container; None for those when the client left, the job was cancelled meanwhile or a
        MultiKueue manager dispatched it to a worker (its pods are there).

        Waits on the job in the shared jobs index (no polling, no watch of its own); when the job
        leaves the cluster, looks for it again (a failover moves it).
        """
        store, index = self.service.store, self.service.index
        started = logs.started_pod(job, rank, container)
        while started is None and not self.closed and not self._elsewhere(job):
            async with index.follow(job.cluster, job.job_id) as follow:
                while started is None and not self.closed and not follow.empty() and not self._elsewhere(job):
                    job = follow.objects()
                    started = logs.started_pod(job, rank, container)
                    if started is None:
                        await follow.next_change(1.0)  # at least every second: did the client leave?
            if started is None and not self.closed:
                try:
                    job = await store.get(job.job_id)
                except NotFound:
                    return job, None
        return job, started

    def _elsewhere(self, job: JobObjects) -> str | None:
        """For a job a MultiKueue manager dispatched, where its logs are (its pods are on the worker)."""
        worker = (self.service.queues.queue_of(job) or {}).get("dispatched_to")
        return multikueue.logs_elsewhere(worker, job.cluster) if worker else None


@functools.lru_cache(maxsize=1)
def openapi_document() -> dict:
    return yaml.safe_load(OPENAPI.read_text(encoding="utf-8"))


class OpenAPIHandler(ApiHandler):
    authenticated = False

    def get(self) -> None:
        base = self.settings["base_url"]
        self.write_json({**openapi_document(), "servers": [{"url": url_path_join(base, "api/v1")}]})


class HealthHandler(ApiHandler):
    authenticated = False

    def get(self) -> None:
        self.write_json({"status": "ok", "api": "v1"})


class NotFoundHandler(ApiHandler):
    """Any other path: a JSON 404, whatever the method."""

    authenticated = False

    async def admit(self) -> None:
        raise NotFound(_STATUS_TEXT[404])

    def get(self, *args) -> None:
        """Not reached: ``admit`` answers 404."""

    head = post = put = patch = delete = options = get


def routes(base_url: str, service: GatewayService) -> list:
    """The URL table under ``base_url``."""
    def at(path: str) -> str:
        return url_path_join(base_url, "api/v1", path)

    job = r"(?P<job_id>[^/]+)"
    table = [
        (at("clusters"), ClustersHandler), (at("budget"), BudgetHandler), (at("options"), OptionsHandler),
        (at("user"), UserHandler),
        (at("jobs"), JobsHandler), (at("jobs/feed"), JobsFeedHandler), (at("jobs/plan"), PlanHandler),
        (at(f"jobs/{job}"), JobHandler),
        (at(f"jobs/{job}/watch"), WatchHandler), (at(f"jobs/{job}/logs"), LogsHandler),
        (at("openapi.json"), OpenAPIHandler), (at("health"), HealthHandler),
        (url_path_join(base_url, ""), HealthHandler),  # the hub's proxy checks the service's root
        (r".*", NotFoundHandler),
    ]
    return [(pattern.rstrip("/") + "/?" if pattern != r".*" else pattern, handler, {"service": service})
            for pattern, handler in table]


def make_app(service: GatewayService, base_url: str) -> web.Application:
    """The tornado application serving the API under ``base_url``."""
    return web.Application(routes(base_url, service), base_url=base_url, compress_response=False)
