"""The REST API v1 (tornado handlers); the OpenAPI document is ``openapi.yaml``.

Handlers are thin: parse the request, call ``GatewayService``, write JSON. Every error
is answered as ``{"status": <code>, "message": "<one paragraph>"}``: 4xx for anything a
caller can cause, 5xx only when the gateway or a member cluster fails, and never a
traceback (unexpected errors are logged with one, and answered without).
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from functools import lru_cache
from pathlib import Path

import aiohttp
import yaml
from jupyterhub.utils import url_path_join
from kubernetes_asyncio.client.rest import ApiException
from tornado import web
from tornado.iostream import StreamClosedError

from ..errors import UserError
from . import logs
from ..jobs.checks import MAX_SCRIPT_BYTES
from .errors import BadRequest, GatewayError, NotFound, TooLarge
from .feed import JobFeed
from .model import JobObjects
from .service import GatewayService

log = logging.getLogger("fedspawner.gateway")

OPENAPI = Path(__file__).with_name("openapi.yaml")
_TRUE, _FALSE = ("1", "true"), ("0", "false")


def error_answer(exc: BaseException | None, status: int) -> tuple[int, str]:
    """The status and message to answer for an exception raised while handling a request."""
    if isinstance(exc, GatewayError):
        return exc.status, exc.message
    if isinstance(exc, UserError):  # a job spec (JobSpecError) or anything else a caller got wrong
        return 400, exc.message
    if isinstance(exc, web.HTTPError):
        text = exc.log_message % exc.args if exc.log_message and exc.args else exc.log_message
        return exc.status_code, text or exc.reason or _STATUS_TEXT.get(exc.status_code, "Request failed.")
    if isinstance(exc, ApiException):
        return 502, (f"A member cluster answered with an error ({exc.status}: {exc.reason}). The request did "
                     "not complete; try again, and tell the administrators if it persists.")
    if isinstance(exc, (aiohttp.ClientError, asyncio.TimeoutError, OSError)):
        return 503, "A member cluster did not answer in time. Try again shortly."
    return status, _STATUS_TEXT.get(status, "Request failed.")


_STATUS_TEXT = {
    404: "No such endpoint. The API is described at api/v1/openapi.json.",
    405: "This endpoint does not take that method; see api/v1/openapi.json.",
    500: "The gateway failed unexpectedly. The error is logged for the administrators; try again.",
}


class ApiHandler(web.RequestHandler):
    """JSON in, JSON out, errors as JSON; ``self.caller`` is set before each method runs."""

    authenticated = True

    def initialize(self, service: GatewayService) -> None:
        self.service = service
        self.caller = None
        self.closed = False

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.set_header("Cache-Control", "no-store")

    async def prepare(self) -> None:
        limit = self.service.settings.max_body_bytes
        if len(self.request.body or b"") > limit:
            raise TooLarge(f"The request body is {len(self.request.body):,} bytes; the gateway takes at most "
                           f"{limit:,}. Scripts may be up to {MAX_SCRIPT_BYTES:,} bytes: put larger files in a "
                           "dataset or the image instead.")
        if self.authenticated:
            self.caller = await self.service.auth.caller(self)

    def on_connection_close(self) -> None:
        self.closed = True

    def check_xsrf_cookie(self) -> None:
        """Token-authenticated API: no cookies, so no XSRF check."""

    def write_json(self, data: dict, status: int = 200) -> None:
        self.set_status(status)
        self.finish(json.dumps(data))

    def flag(self, name: str) -> bool:
        value = self.get_argument(name, "0")
        if value not in _TRUE + _FALSE:
            raise BadRequest(f"'{name}' must be 1 or 0 (true or false), not {value!r}.")
        return value in _TRUE

    def number(self, name: str, default: int | None, minimum: int = 0) -> int | None:
        value = self.get_argument(name, None)
        if value is None or value == "":
            return default
        try:
            number = int(value)
        except ValueError:
            raise BadRequest(f"'{name}' must be a whole number, not {value!r}.") from None
        if number < minimum:
            raise BadRequest(f"'{name}' must be at least {minimum}, not {number}.")
        return number

    def seconds(self, name: str, default: float, maximum: float) -> float:
        """A number of seconds from the query (``default`` when absent), capped at ``maximum``."""
        value = self.get_argument(name, None)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            raise BadRequest(f"'{name}' must be a number of seconds, not {value!r}.") from None
        if not 0 <= number < float("inf"):
            raise BadRequest(f"'{name}' must be a number of seconds from 0 to {maximum:g}, not {value!r}.")
        return min(number, maximum)

    def long_poll(self) -> tuple[str, float]:
        """``since`` and ``wait`` of a long-polled endpoint (waiting only with ``since``)."""
        since = self.get_argument("since", "").strip()
        limit = self.service.settings.long_poll_max_wait
        wait = self.seconds("wait", min(25.0, limit), limit)  # checked even when unused
        return since, wait if since else 0.0

    def json_body(self) -> object:
        try:
            return json.loads(self.request.body or b"null")
        except (ValueError, UnicodeDecodeError) as err:
            raise BadRequest(f"The request body is not valid JSON ({err}). Send a job spec as a JSON "
                             "object.") from None

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
        self.finish(json.dumps({"status": status, "message": message}))


class ClustersHandler(ApiHandler):
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
    async def get(self) -> None:
        since, wait = self.long_poll()
        state = self.get_argument("state", None)
        self.write_json(await self.service.jobs_feed(self.caller, self.flag("all"), state, since, wait))


class BudgetHandler(ApiHandler):
    def get(self) -> None:
        self.write_json({"budget": self.service.budget(self.caller)})


class JobsHandler(ApiHandler):
    async def get(self) -> None:
        state = self.get_argument("state", None)
        self.write_json(await self.service.list_jobs(self.caller, self.flag("all"), state))

    async def post(self) -> None:
        job = await self.service.submit(self.caller, self.json_body())
        self.set_header("Location", url_path_join(self.request.path, job["id"]))
        self.write_json({"job": job}, status=201)


class JobHandler(ApiHandler):
    async def get(self, job_id: str) -> None:
        self.write_json({"job": await self.service.job_detail(self.caller, job_id)})

    async def delete(self, job_id: str) -> None:
        self.write_json({"job": await self.service.cancel(self.caller, job_id)})


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
    async def get(self, job_id: str) -> None:
        rank = self.number("rank", 0)
        tail = self.number("tail", None)
        follow = self.flag("follow")
        container = self.get_argument("container", None) or None
        job = await self.service.job(self.caller, job_id)
        pod = logs.pod_for_rank(job, rank)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
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
            return
        pod, name = started
        async for chunk in logs.stream(self.service.registry.api(job.cluster), job.namespace, pod, name, tail):
            if not await self.send(chunk):
                return
        self.finish()

    async def _wait_started(self, job: JobObjects, rank: int, container: str | None
                            ) -> tuple[JobObjects, tuple[dict, str] | None]:
        """The job (it may have moved) and, once the rank's container has started, its pod and
        container; None for those when the client left or the job was cancelled meanwhile.

        Waits on the job in the shared jobs index (no polling, no watch of its own); when the job
        leaves the cluster, looks for it again (a failover moves it).
        """
        store, index = self.service.store, self.service.index
        started = logs.started_pod(job, rank, container)
        while started is None and not self.closed:
            async with index.follow(job.cluster, job.job_id) as follow:
                while started is None and not self.closed and not follow.empty():
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


@lru_cache(maxsize=1)
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
    authenticated = False

    def prepare(self) -> None:
        raise NotFound(_STATUS_TEXT[404])


def routes(base_url: str, service: GatewayService) -> list:
    """The URL table under ``base_url``."""
    def at(path: str) -> str:
        return url_path_join(base_url, "api/v1", path)

    job = r"(?P<job_id>[^/]+)"
    table = [
        (at("clusters"), ClustersHandler), (at("budget"), BudgetHandler), (at("options"), OptionsHandler),
        (at("user"), UserHandler),
        (at("jobs"), JobsHandler), (at("jobs/feed"), JobsFeedHandler), (at(f"jobs/{job}"), JobHandler),
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
