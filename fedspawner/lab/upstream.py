"""The gateway as the Lab server extension reaches it: where, with which token, and its errors.

``Upstream`` holds the gateway's URL and this server's own ``JUPYTERHUB_API_TOKEN`` (the
browser never sees either) and sends requests with the kernel client's transport
(``fedspawner.client.transport``), so the URL rules and network errors are the same as
for ``%%fedsubmit``. Whatever goes wrong becomes a ``RelayError``: an HTTP status, a
short machine ``reason`` and a message for people (``relay_error`` is the mapping).
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Mapping
from typing import Any

from ..client import transport
from ..client.config import gateway_token, gateway_url
from ..client.errors import GatewayRequestError
from ..client.gateway import Gateway
from ..errors import UserError

#: The reason of each 4xx, the gateway's passed on as they are and the extension's own.
REASONS = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
           413: "too_large", 422: "unsatisfiable"}

HINT = ("No fedspawner gateway is configured for this server. On a JupyterHub with fedspawner this is "
        "automatic; elsewhere set FEDSPAWNER_GATEWAY_URL (e.g. https://hub.example.org/services/"
        "fedspawner-gateway/) and JUPYTERHUB_API_TOKEN (a token from the hub's /hub/token page) in the "
        "environment of `jupyter lab`, or c.FedspawnerLabApp.gateway_url in its configuration, and "
        "restart it.")


class RelayError(UserError):
    """A request the extension cannot answer with the gateway's data."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status, self.reason = status, reason

    def to_json(self) -> dict[str, str]:
        return {"message": self.message, "reason": self.reason}


def relay_error(err: GatewayRequestError) -> RelayError:
    """How a gateway failure is answered to the browser.

    The gateway's 4xx keep their status and message; an unreachable gateway, or one
    saying a member cluster did not answer (502/503/504, also from the hub's proxy while
    the gateway restarts), is 503 ``unreachable``; any other 5xx is 502 ``gateway``.
    """
    status = err.status
    if status is None or status in (502, 503, 504):
        return RelayError(503, "unreachable", err.message)
    if status >= 500:
        return RelayError(502, "gateway", err.message)
    return RelayError(status, REASONS.get(status, "gateway"), err.message)


class Upstream:
    """The gateway this server forwards to (or the reason there is none)."""

    def __init__(self, url: str = "", timeout: float = 30.0, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        self.timeout = timeout
        self.url: str | None = None
        self.token: str | None = None
        self.problem: str | None = None
        try:
            self.url = gateway_url({**env, "FEDSPAWNER_GATEWAY_URL": url} if url else env)
            self.token = gateway_token(env)
        except GatewayRequestError as err:
            self.problem = err.message

    @property
    def configured(self) -> bool:
        return self.url is not None and self.token is not None

    @property
    def hint(self) -> str | None:
        """How to configure the gateway (None when it is configured)."""
        if self.configured:
            return None
        if self.url and not self.token:
            return f"{self.problem} {HINT}"
        return HINT

    def _gateway(self) -> Gateway:
        if not self.configured:
            raise RelayError(503, "not_configured", self.hint or HINT)
        return Gateway(self.url, self.token, timeout=self.timeout)

    def request(self, method: str, path: str, params: Mapping[str, Any] | None, body: Any,
                timeout: float | None) -> transport.Request:
        """The request for ``api/v1/<path>`` (``timeout``: seconds; for a stream, of silence; None: none)."""
        return self._gateway().request(method, path, params=dict(params or {}), body=body, timeout=timeout)

    async def send(self, method: str, path: str, params: Mapping[str, Any] | None = None, body: Any = None,
                   extra_wait: float = 0.0) -> bytes:
        """The body of a successful answer; ``RelayError`` otherwise. ``extra_wait``: seconds the
        gateway may hold the request on purpose (a long-poll), on top of the timeout."""
        request = self.request(method, path, params, body, self.timeout + extra_wait)
        try:
            status, data = await transport.asend(request)
        except GatewayRequestError as err:
            raise relay_error(err) from None
        if status >= 400:
            raise relay_error(transport.error_for(status, data, request.url))
        return data

    async def call(self, method: str, path: str, params: Mapping[str, Any] | None = None, body: Any = None,
                   extra_wait: float = 0.0) -> dict[str, Any]:
        """The JSON object of a successful answer; ``RelayError`` otherwise."""
        data = await self.send(method, path, params, body, extra_wait)
        try:
            return transport.decode_json(200, data, path)
        except GatewayRequestError as err:
            raise RelayError(502, "gateway", err.message) from None

    async def stream(self, path: str, params: Mapping[str, Any] | None = None) -> AsyncIterator[bytes]:
        """A streamed answer's chunks, the first one ``b""`` once the gateway accepted the request;
        ``RelayError`` before that when it refuses (or cannot be reached)."""
        request = self.request("GET", path, params, None, timeout=None)
        try:
            async for chunk in transport.astream(request):
                yield chunk
        except GatewayRequestError as err:
            raise relay_error(err) from None


def dumps(data: Any) -> str:
    """JSON for the browser."""
    return json.dumps(data, separators=(",", ":"))
