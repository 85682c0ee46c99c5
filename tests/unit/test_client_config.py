"""Where the kernel finds the gateway and its token (``fedspawner.client.config``)."""

from __future__ import annotations

import pytest

from fedspawner.client.config import gateway_token, gateway_url
from fedspawner.client.errors import GatewayRequestError

SINGLEUSER = {
    "JUPYTERHUB_API_URL": "http://127.0.0.1:8081/hub/api",
    "JUPYTERHUB_SERVICE_PREFIX": "/user/alice/",
    "JUPYTERHUB_BASE_URL": "/",
    "JUPYTERHUB_API_TOKEN": "abc123",
}


@pytest.mark.parametrize("env, expected", [
    # an explicit URL wins, with or without the trailing slash
    ({**SINGLEUSER, "FEDSPAWNER_GATEWAY_URL": "http://127.0.0.1:9000"}, "http://127.0.0.1:9000/"),
    ({**SINGLEUSER, "FEDSPAWNER_GATEWAY_URL": "https://hub.example.org/services/fedspawner-gateway/"},
     "https://hub.example.org/services/fedspawner-gateway/"),
    # JupyterHub ≥ 5 with public_url: through the public proxy
    ({**SINGLEUSER, "JUPYTERHUB_PUBLIC_HUB_URL": "https://hub.example.org/hub/"},
     "https://hub.example.org/services/fedspawner-gateway/"),
    ({**SINGLEUSER, "JUPYTERHUB_PUBLIC_URL": "https://hub.example.org/user/alice/"},
     "https://hub.example.org/services/fedspawner-gateway/"),
    # otherwise the origin of the hub API
    (SINGLEUSER, "http://127.0.0.1:8081/services/fedspawner-gateway/"),
    # a hub under a base URL, from JUPYTERHUB_BASE_URL ...
    ({**SINGLEUSER, "JUPYTERHUB_BASE_URL": "/jupyter/",
      "JUPYTERHUB_API_URL": "http://hub:8081/jupyter/hub/api"},
     "http://hub:8081/jupyter/services/fedspawner-gateway/"),
    # ... or from the service prefix when JUPYTERHUB_BASE_URL is absent ...
    ({"JUPYTERHUB_API_URL": "http://hub:8081/jupyter/hub/api",
      "JUPYTERHUB_SERVICE_PREFIX": "/jupyter/user/bob/gpu/"},
     "http://hub:8081/jupyter/services/fedspawner-gateway/"),
    # ... or from the API URL's path
    ({"JUPYTERHUB_API_URL": "http://hub:8081/lab/hub/api"},
     "http://hub:8081/lab/services/fedspawner-gateway/"),
    # empty public URLs (public_url not configured) are skipped
    ({**SINGLEUSER, "JUPYTERHUB_PUBLIC_URL": "", "JUPYTERHUB_PUBLIC_HUB_URL": ""},
     "http://127.0.0.1:8081/services/fedspawner-gateway/"),
])
def test_gateway_url(env, expected):
    assert gateway_url(env) == expected


def test_gateway_url_outside_a_hub_says_what_to_set():
    with pytest.raises(GatewayRequestError) as info:
        gateway_url({})
    assert "FEDSPAWNER_GATEWAY_URL" in str(info.value) and info.value.status is None


def test_gateway_url_rejects_a_url_without_scheme():
    with pytest.raises(GatewayRequestError, match="not an http"):
        gateway_url({"FEDSPAWNER_GATEWAY_URL": "hub.example.org/services/x"})


def test_token_from_the_environment():
    assert gateway_token(SINGLEUSER) == "abc123"
    with pytest.raises(GatewayRequestError, match="JUPYTERHUB_API_TOKEN is not set"):
        gateway_token({"JUPYTERHUB_API_TOKEN": "  "})


def test_defaults_come_from_os_environ(monkeypatch):
    monkeypatch.setenv("FEDSPAWNER_GATEWAY_URL", "http://127.0.0.1:1234/gw")
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "t0k")
    from fedspawner.client import Gateway

    gateway = Gateway()
    assert (gateway.url, gateway.token) == ("http://127.0.0.1:1234/gw/", "t0k")
    assert gateway.request("GET", "jobs", params={"all": "1", "state": None}).url == \
        "http://127.0.0.1:1234/gw/api/v1/jobs?all=1"
