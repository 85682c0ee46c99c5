"""The Lab server extension's pure parts: where the gateway is, and how its errors reach the browser."""

from __future__ import annotations

import pytest

from fedspawner.client.errors import GatewayRequestError
from fedspawner.client.transport import error_for
from fedspawner.lab import _jupyter_server_extension_points
from fedspawner.lab.app import FedspawnerLabApp
from fedspawner.lab.handlers import handlers
from fedspawner.lab.upstream import HINT, RelayError, Upstream, relay_error

HUB = {"JUPYTERHUB_API_TOKEN": "secret", "JUPYTERHUB_API_URL": "http://127.0.0.1:8081/hub/api",
       "JUPYTERHUB_SERVICE_PREFIX": "/jupyter/user/alice/"}


def test_a_hub_spawned_server_finds_the_gateway_through_the_proxy():
    upstream = Upstream(env=HUB)
    assert upstream.configured and upstream.hint is None and upstream.token == "secret"
    assert upstream.url == "http://127.0.0.1:8081/jupyter/services/fedspawner-gateway/"
    request = upstream.request("GET", "jobs/feed", {"since": "v1"}, None, timeout=55)
    assert request.url == "http://127.0.0.1:8081/jupyter/services/fedspawner-gateway/api/v1/jobs/feed?since=v1"
    assert request.headers["Authorization"] == "token secret" and request.timeout == 55


def test_the_trait_and_the_variable_name_another_gateway():
    assert Upstream("https://gw.example.org/x", env=HUB).url == "https://gw.example.org/x/"
    env = {**HUB, "FEDSPAWNER_GATEWAY_URL": "https://other.example.org/gw/"}
    assert Upstream(env=env).url == "https://other.example.org/gw/"


def test_without_a_hub_the_hint_says_how_to_configure_it():
    upstream = Upstream(env={})
    assert not upstream.configured and upstream.hint == HINT
    assert "FEDSPAWNER_GATEWAY_URL" in HINT and "c.FedspawnerLabApp.gateway_url" in HINT
    with pytest.raises(RelayError) as info:
        upstream.request("GET", "clusters", None, None, timeout=1)
    assert (info.value.status, info.value.reason) == (503, "not_configured")
    no_token = Upstream(env={"FEDSPAWNER_GATEWAY_URL": "https://gw.example.org/"})
    assert not no_token.configured and "JUPYTERHUB_API_TOKEN" in no_token.hint
    bad = Upstream(env={"FEDSPAWNER_GATEWAY_URL": "gw.example.org", "JUPYTERHUB_API_TOKEN": "t"})
    assert not bad.configured and "not an http(s) URL" in bad.problem


@pytest.mark.parametrize("status, reason, relayed", [
    (400, "bad_request", 400), (401, "unauthorized", 401), (403, "forbidden", 403), (404, "not_found", 404),
    (422, "unsatisfiable", 422), (409, "gateway", 409), (500, "gateway", 502), (502, "unreachable", 503),
    (503, "unreachable", 503), (504, "unreachable", 503),
])
def test_gateway_statuses_reach_the_browser_as_documented(status, reason, relayed):
    err = relay_error(error_for(status, b'{"status": %d, "message": "What went wrong."}' % status, "u"))
    assert (err.status, err.reason) == (relayed, reason)
    assert "What went wrong." in err.message and set(err.to_json()) == {"message", "reason"}


def test_an_unreachable_gateway_is_a_503_with_its_message():
    err = relay_error(GatewayRequestError("Can't reach the fedspawner gateway at http://x/: refused."))
    assert (err.status, err.reason) == (503, "unreachable") and "Can't reach" in err.message


def test_the_extension_point_and_routes():
    [point] = _jupyter_server_extension_points()
    assert point == {"module": "fedspawner.lab", "app": FedspawnerLabApp}
    assert FedspawnerLabApp.gateway_url.help and FedspawnerLabApp.request_timeout.help
    paths = [pattern for pattern, _ in handlers()]
    assert all(p.startswith("/fedspawner/") for p in paths)
    assert {"/fedspawner/config", "/fedspawner/clusters", "/fedspawner/options", "/fedspawner/jobs"} <= set(paths)


HUB_PAGE = (b"<!DOCTYPE HTML><html><head><title>JupyterHub</title></head><body><div class='error'><h1>503 : "
            b"Service Unavailable</h1><p>Your server appears to be down.</p></div><script>var x;</script></body>"
            b"</html>")


@pytest.mark.parametrize("status, relayed, reason", [
    (413, 413, "too_large"), (500, 502, "gateway"), (502, 503, "unreachable"), (503, 503, "unreachable"),
    (404, 404, "not_found"),
])
def test_a_proxys_html_page_never_reaches_the_browser(status, relayed, reason):
    err = relay_error(error_for(status, HUB_PAGE, "http://hub/services/fedspawner-gateway/api/v1/jobs"))
    assert (err.status, err.reason) == (relayed, reason)
    assert "<" not in err.message and "Service Unavailable" not in err.message and "JupyterHub" not in err.message
    assert f"HTTP {status}" in err.message
