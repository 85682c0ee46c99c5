"""``Gateway``: the gateway's REST API v1 from Python, blocking or on an event loop.

Every endpoint is described once, as a ``Call`` (the request and how to read
its answer); ``Gateway`` runs a call with the blocking transport (``submit``,
``jobs``, ``job``, ``cancel``, ``clusters``) or on the running event loop (the
same names with an ``a`` in front). Streams (``watch``, ``logs``) are
``Stream`` objects usable with ``for`` and ``async for``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from ..jobs.vocabulary import JOB_STATES, is_job_id
from . import live, transport
from .config import gateway_token, gateway_url
from .errors import GatewayRequestError
from .job import Job
from .options import submission_body
from .streams import LogFollow, Stream, WatchFollow, log_line

__all__ = ["Call", "Gateway", "check_job_id", "is_job_id"]

#: Seconds of silence after which a stream counts as dead (the watch sends a heartbeat every 15 s).
STREAM_IDLE_TIMEOUT = 45.0
#: Seconds a followed log may stay silent before it is reconnected (a quiet script and a proxy
#: holding a dead stream open look alike; reconnecting goes on from the last line either way).
LOG_IDLE_TIMEOUT = 30.0
_DEFAULT = object()


@dataclass(frozen=True)
class Call:
    """One REST call: the request, and how to turn its JSON answer into a result."""

    request: transport.Request
    result: Callable[[dict[str, Any]], Any]


def _field(name: str) -> Callable[[dict[str, Any]], Any]:
    def pick(data: dict[str, Any]) -> Any:
        if name not in data:
            raise GatewayRequestError(f"The gateway's answer has no {name!r}; is the gateway's version "
                                      "compatible with this fedspawner?")
        return data[name]
    return pick


def check_job_id(job_id: str) -> str:
    """``job_id`` if it is one, else a ``GatewayRequestError`` (nothing is sent for a malformed id)."""
    if not is_job_id(job_id):
        raise GatewayRequestError(f"{job_id!r} is not a job id: ids look like 'j-abcd2345' (%fedjobs lists yours).")
    return job_id


class Gateway:
    """The fedspawner gateway, reached over HTTP with the notebook's JupyterHub token.

    ``url`` and ``token`` default to the notebook server's environment (see
    ``fedspawner.client.config``); ``timeout`` bounds each plain request.
    """

    def __init__(self, url: str | None = None, token: str | None = None, *, timeout: float = 30.0) -> None:
        self.url = url if url is not None else gateway_url()
        if not self.url.endswith("/"):
            self.url += "/"
        self.token = token if token is not None else gateway_token()
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"Gateway({self.url!r})"

    # --- requests -------------------------------------------------------------------------------

    def request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                body: Any = None, timeout: float | None | object = _DEFAULT) -> transport.Request:
        """The ``Request`` for ``method`` on ``api/v1/<path>`` (``timeout``: this gateway's by default,
        None for none)."""
        query = {key: value for key, value in (params or {}).items() if value is not None}
        url = f"{self.url}api/v1/{path}" + (f"?{urlencode(query)}" if query else "")
        headers = {"Authorization": f"token {self.token}", "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        return transport.Request(method, url, headers, data, self.timeout if timeout is _DEFAULT else timeout)

    def run(self, call: Call) -> Any:
        """Run a call with the blocking transport."""
        status, body = transport.send(call.request)
        return call.result(transport.decode_json(status, body, call.request.url))

    async def arun(self, call: Call) -> Any:
        """Run a call on the running event loop."""
        status, body = await transport.asend(call.request)
        return call.result(transport.decode_json(status, body, call.request.url))

    # --- calls ------------------------------------------------------------------------------------

    def _job_path(self, job_id: str, *rest: str) -> str:
        return "/".join(["jobs", quote(check_job_id(job_id), safe=""), *rest])

    def _job_call(self, method: str, job_id: str) -> Call:
        return Call(self.request(method, self._job_path(job_id)),
                    self._cancelled if method == "DELETE" else self._job)

    def _job(self, data: dict[str, Any]) -> Job:
        return Job(_field("job")(data), self)

    def _cancelled(self, data: dict[str, Any]) -> Job:
        job = self._job(data)
        live.job_cancelled(job.data)
        return job

    def submit_call(self, kind: str, script: str, **options: Any) -> Call:
        """The validated submission (raises ``GatewayRequestError`` before any request when it can't run)."""
        return Call(self.request("POST", "jobs", body=submission_body(kind, script, **options)), self._job)

    def plan_call(self, kind: str, script: str, **options: Any) -> Call:
        """Where the submission would go and why (the gateway's dry run; nothing is created)."""
        return Call(self.request("POST", "jobs/plan", body=submission_body(kind, script, **options)), lambda d: d)

    def jobs_call(self, all: bool = False, state: str | None = None) -> Call:

        if state is not None and state not in JOB_STATES:
            raise GatewayRequestError(f"Unknown job state {state!r}; filter on one of: {', '.join(JOB_STATES)}.")
        params = {"all": "1" if all else None, "state": state}
        return Call(self.request("GET", "jobs", params=params),
                    lambda data: [self._job({"job": job}) for job in _field("jobs")(data)])

    def clusters_call(self) -> Call:
        return Call(self.request("GET", "clusters"), _field("clusters"))

    def budget_call(self) -> Call:
        return Call(self.request("GET", "budget"), _field("budget"))

    def options_call(self) -> Call:
        """The option schema the gateway publishes (``GET options``)."""
        def schema(data: dict[str, Any]) -> dict[str, Any]:
            _field("options")(data)
            return data
        return Call(self.request("GET", "options"), schema)

    # --- blocking API -------------------------------------------------------------------------------

    def submit(self, kind: str, script: str, **options: Any) -> Job:
        """Send ``script`` to run as a job of ``kind``; returns once its objects exist on a cluster.

        ``options``: ``name``, ``cluster`` (``"auto"``, a name, or names in failover order), ``gpus``
        (``"TYPE:N"`` per node), ``nodes``, ``image``, ``packages``, ``env``, ``executors``, ``conf``,
        ``cpu``, ``memory``, ``language``, ``retries``, ``timeout``.
        """
        return self.run(self.submit_call(kind, script, **options))

    def plan(self, kind: str, script: str, **options: Any) -> dict:
        """``{"cluster", "candidates"}``: where ``submit`` would send the job now and why, creating nothing."""
        return self.run(self.plan_call(kind, script, **options))

    def jobs(self, all: bool = False, state: str | None = None) -> list[Job]:
        """Your jobs on every cluster, newest first (everyone's with ``all=True``, for admins)."""
        return self.run(self.jobs_call(all, state))

    def job(self, job_id: str) -> Job:
        """One job, as it is now."""
        return self.run(self._job_call("GET", job_id))

    def cancel(self, job_id: str) -> Job:
        """Cancel a job: returns once every object of it is deleted from its cluster."""
        return self.run(self._job_call("DELETE", job_id))

    def clusters(self) -> list[dict[str, Any]]:
        """The member clusters: health, backends and GPU inventory."""
        return self.run(self.clusters_call())

    def budget(self) -> dict[str, Any]:
        """Your federation-wide GPU budget: ``limit``, ``used``, ``remaining``, ``holdings``, ``summary``."""
        return self.run(self.budget_call())

    def options(self) -> dict[str, Any]:
        """The option schema: every submission option with its limits, choices and default, as the
        gateway validates them, and this federation's clusters and GPU types (``gpu_types``)."""
        return self.run(self.options_call())

    def attach(self, job_id: str) -> Job:
        """A handle on an existing job (e.g. after a kernel restart); shown in a notebook, its widget."""
        return self.job(job_id)

    # --- the same on the event loop -----------------------------------------------------------------

    async def asubmit(self, kind: str, script: str, **options: Any) -> Job:
        return await self.arun(self.submit_call(kind, script, **options))

    async def ajobs(self, all: bool = False, state: str | None = None) -> list[Job]:
        return await self.arun(self.jobs_call(all, state))

    async def ajob(self, job_id: str) -> Job:
        return await self.arun(self._job_call("GET", job_id))

    async def acancel(self, job_id: str) -> Job:
        return await self.arun(self._job_call("DELETE", job_id))

    # --- streams ------------------------------------------------------------------------------------

    def watch(self, job_id: str) -> WatchFollow:
        """The job's changes as Job dicts: the current state at once, then every change, until it ends
        (across gateway restarts: a broken stream is reconnected)."""
        request = self.request("GET", self._job_path(job_id, "watch"), timeout=STREAM_IDLE_TIMEOUT)
        return WatchFollow(request)

    def logs(self, job_id: str, rank: int = 0, tail: int | None = None, follow: bool = False,
             container: str | None = None) -> Stream[str] | LogFollow:
        """A rank's log lines (for Spark, rank 0 is the driver); ``follow`` keeps streaming new ones
        until the rank's pod ends, across gateway restarts (each line once)."""
        for name, value, low in (("rank", rank, 0), ("tail", tail, 1)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < low):
                raise GatewayRequestError(f"{name} must be a whole number of at least {low}, not {value!r}.")

        def request_for(lines: int | None, following: bool) -> transport.Request:
            params = {"rank": rank, "tail": lines, "follow": "1" if following else None, "container": container}
            return self.request("GET", self._job_path(job_id, "logs"), params=params,
                                timeout=LOG_IDLE_TIMEOUT if following else self.timeout)
        if not follow:
            return Stream(request_for(tail, False), log_line)
        return LogFollow(request_for, tail, self.request("GET", self._job_path(job_id)), rank)
