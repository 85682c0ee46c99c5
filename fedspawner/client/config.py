"""Where the gateway is and who we are: both from the notebook server's environment.

The kernel never holds cluster credentials. It talks to the gateway (a
JupyterHub service) with the token the hub gives every single-user server,
``JUPYTERHUB_API_TOKEN``. The gateway's URL is, in order:

1. ``FEDSPAWNER_GATEWAY_URL`` when set (the hub or the admin sets it when the
   service is reachable at an address of its own);
2. ``<hub public origin><base url>services/fedspawner-gateway/``, through the
   hub's proxy. The public origin comes from ``JUPYTERHUB_PUBLIC_HUB_URL`` or
   ``JUPYTERHUB_PUBLIC_URL`` (JupyterHub ≥ 5 sets them when ``public_url`` is
   configured), else from ``JUPYTERHUB_API_URL``; the base URL from
   ``JUPYTERHUB_BASE_URL``, else from the part of ``JUPYTERHUB_SERVICE_PREFIX``
   before ``user/``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import urlsplit

from .errors import GatewayRequestError

__all__ = ["SERVICE_NAME", "gateway_token", "gateway_url"]

#: The gateway's name as a JupyterHub service.
SERVICE_NAME = "fedspawner-gateway"


def _with_slash(url: str) -> str:
    return url if url.endswith("/") else url + "/"


def _origin(url: str) -> str | None:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


def _base_url(env: Mapping[str, str]) -> str:
    """The hub's base URL (``/`` or e.g. ``/jupyter/``)."""
    if env.get("JUPYTERHUB_BASE_URL"):
        return _with_slash(env["JUPYTERHUB_BASE_URL"])
    prefix = env.get("JUPYTERHUB_SERVICE_PREFIX", "")
    head, sep, _ = prefix.partition("/user/")
    if sep:
        return _with_slash(head)
    api_path = urlsplit(env.get("JUPYTERHUB_API_URL", "")).path
    head, sep, _ = api_path.rpartition("/hub/api")
    return _with_slash(head) if sep else "/"


def gateway_url(env: Mapping[str, str] | None = None) -> str:
    """The gateway's base URL, ending in ``/`` (``.../services/fedspawner-gateway/``).

    Raises ``GatewayRequestError`` when the environment says nothing about a hub.
    """
    env = os.environ if env is None else env
    explicit = env.get("FEDSPAWNER_GATEWAY_URL", "").strip()
    if explicit:
        if _origin(explicit) is None:
            raise GatewayRequestError(
                f"FEDSPAWNER_GATEWAY_URL is {explicit!r}, which is not an http(s) URL; set it to the "
                "gateway's address, e.g. https://hub.example.org/services/fedspawner-gateway/.")
        return _with_slash(explicit)
    for name in ("JUPYTERHUB_PUBLIC_HUB_URL", "JUPYTERHUB_PUBLIC_URL", "JUPYTERHUB_API_URL"):
        origin = _origin(env.get(name, ""))
        if origin:
            return f"{origin}{_base_url(env)}services/{SERVICE_NAME}/"
    raise GatewayRequestError(
        "This kernel does not know where the fedspawner gateway is: it is not running in a notebook "
        "server started by JupyterHub (JUPYTERHUB_API_URL is not set) and FEDSPAWNER_GATEWAY_URL is not "
        "set. Run it from a notebook on the hub, or set FEDSPAWNER_GATEWAY_URL to the gateway's URL.")


def gateway_token(env: Mapping[str, str] | None = None) -> str:
    """The notebook's JupyterHub token (``JUPYTERHUB_API_TOKEN``), or ``FEDSPAWNER_GATEWAY_TOKEN``
    when set: a token of the gateway's hub for a notebook server another hub started (Binder)."""
    env = os.environ if env is None else env
    token = (env.get("FEDSPAWNER_GATEWAY_TOKEN", "").strip() or env.get("JUPYTERHUB_API_TOKEN", "").strip())
    if not token:
        raise GatewayRequestError(
            "No JupyterHub token in this kernel: JUPYTERHUB_API_TOKEN is not set. fedspawner sends jobs "
            "as you, with the token the hub gives your notebook server; run this from a notebook on the "
            "hub, or set JUPYTERHUB_API_TOKEN to a token from the hub's token page (/hub/token).")
    return token
