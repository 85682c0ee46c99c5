"""The REST layer: routes, JSON errors without tracebacks, and the OpenAPI document."""

from __future__ import annotations

import json
import re
import socket

import aiohttp
import pytest
import yaml
from kubernetes_asyncio.client.rest import ApiException

from fedspawner.gateway.auth import Caller
from fedspawner.gateway.config import Gateway
from fedspawner.gateway.errors import NotAuthenticated
from fedspawner.gateway.handlers import OPENAPI, error_answer, make_app, routes
from fedspawner.gateway.sessions_handlers import session_routes
from fedspawner.jobs.errors import JobSpecError
from fedspawner.jobs.fields import JOB_STATES


class FakeAuth:
    async def caller(self, handler):
        if handler.request.headers.get("Authorization") != "token good":
            raise NotAuthenticated("No JupyterHub token was sent.")
        return Caller("alice")


class FakeService:
    """Answers like the real service, or raises what a test puts in ``fail``."""

    def __init__(self):
        self.auth = FakeAuth()
        self.settings = Gateway()
        self.fail: BaseException | None = None

    async def clusters(self, caller):
        if self.fail:
            raise self.fail
        return [{"name": "onprem"}]

    async def clusters_feed(self, caller, since, wait):
        self.asked = (since, wait)
        return {"version": "v1", "clusters": await self.clusters(caller)}


@pytest.fixture
async def api():
    service = FakeService()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = make_app(service, "/services/gw/").listen(port, address="127.0.0.1")
    async with aiohttp.ClientSession() as session:
        async def call(method, path, token="good"):
            headers = {"Authorization": f"token {token}"} if token else {}
            url = f"http://127.0.0.1:{port}/services/gw{path}"
            async with session.request(method, url, headers=headers) as r:
                return r.status, json.loads(await r.text())
        call.service = service
        yield call
    server.stop()


async def test_routes_answer_json(api):
    assert await api("GET", "/api/v1/clusters") == (200, {"version": "v1", "clusters": [{"name": "onprem"}]})
    assert api.service.asked == ("", 0.0)  # no since: no waiting
    assert (await api("GET", "/api/v1/clusters/"))[0] == 200
    assert (await api("GET", "/api/v1/clusters?since=v0&wait=99"))[0] == 200
    assert api.service.asked == ("v0", 30.0)  # capped at long_poll_max_wait
    assert (await api("GET", "/api/v1/clusters?since=v0"))[0] == 200 and api.service.asked == ("v0", 25.0)
    status, body = await api("GET", "/api/v1/clusters?since=v0&wait=nan")
    assert status == 400 and "number of seconds" in body["message"]
    assert (await api("GET", "/api/v1/health", token=None))[1]["status"] == "ok"


async def test_errors_are_json_without_tracebacks(api):
    status, body = await api("GET", "/api/v1/clusters", token=None)
    assert status == 401 and body == {"status": 401, "message": "No JupyterHub token was sent."}
    status, body = await api("GET", "/api/v1/nowhere")
    assert status == 404 and "openapi.json" in body["message"]
    status, body = await api("PATCH", "/api/v1/clusters")
    assert status == 405 and body["status"] == 405
    api.service.fail = RuntimeError("secret internals")
    status, body = await api("GET", "/api/v1/clusters")
    assert status == 500 and "secret" not in body["message"]
    assert re.search(r"reference [0-9a-f]{8}", body["message"])
    api.service.fail = ApiException(status=500, reason="etcd down")
    status, body = await api("GET", "/api/v1/clusters")
    assert status == 502 and "etcd down" in body["message"]


def test_error_answers():
    assert error_answer(JobSpecError("bad field", field="x"), 500) == (400, "bad field")
    assert error_answer(TimeoutError(), 500)[0] == 503
    assert error_answer(None, 500)[0] == 500


def test_openapi_describes_every_route():
    doc = yaml.safe_load(OPENAPI.read_text())
    assert doc["openapi"].startswith("3.0")
    documented = {re.sub(r"\{id\}", "ID", p) for p in doc["paths"]}
    served = set()
    for pattern, *_ in [*routes("/", None), *session_routes("/", None, None)]:
        if pattern.startswith("/api/v1/"):
            path = re.sub(r"\(\?P<(job|session)_id>\[\^/\]\+\)", "ID", pattern[len("/api/v1"):])
            path = path.replace("(?:/(?P<path>.*))?", "/{path}")  # a session's UI: any page under it
            served.add(path.rstrip("/?") or "/")
    assert served == documented
    for schema in ("Job", "JobSpec", "Cluster", "Error"):
        assert schema in doc["components"]["schemas"]
    [state] = [p for p in doc["paths"]["/jobs"]["get"]["parameters"] if p["name"] == "state"]
    assert tuple(state["schema"]["enum"]) == JOB_STATES
