"""REST endpoints of interactive Spark sessions and their tunnel (documented in ``openapi.yaml``).

``api/v1/sessions`` (POST create, GET list), ``api/v1/sessions/<id>`` (GET, DELETE) answer JSON
like every endpoint of ``handlers``. ``api/v1/sessions/<id>/tunnel`` is a WebSocket carrying one
TCP connection to the session's Spark Connect server: binary messages both ways are the
connection's bytes; the gateway relays them over a port-forward through the member cluster's
apiserver. Each WebSocket is authorised with the caller's hub token, and only the session's
owner may open one (anyone else: 403 before the upgrade).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

import aiohttp
from jupyterhub.utils import url_path_join
from tornado import web, websocket

from ..jobs.render.spark_connect import CONNECT_PORT
from .errors import GatewayError
from .handlers import ApiHandler, error_answer
from .sessions import SessionService
from ..federation.portforward import CHUNK_LIMIT, DATA_CHANNEL, ERROR_CHANNEL, PortForwardError, dial, frame

log = logging.getLogger(__name__)


class _SessionsApi(ApiHandler):
    def initialize(self, service, sessions: SessionService) -> None:
        super().initialize(service)
        self.sessions = sessions


class SessionsHandler(_SessionsApi):
    async def get(self) -> None:
        self.write_json({"sessions": await self.sessions.list_sessions(self.caller)})

    async def post(self) -> None:
        session = await self.sessions.create(self.caller, self.json_body())
        self.set_header("Location", url_path_join(self.request.path, session["id"]))
        self.write_json({"session": session}, status=201)


class SessionHandler(_SessionsApi):
    async def get(self, session_id: str) -> None:
        found = await self.sessions.session(self.caller, session_id)
        self.write_json({"session": await self.sessions.detail(found)})

    async def delete(self, session_id: str) -> None:
        self.write_json({"session": await self.sessions.stop(self.caller, session_id)})


class TunnelHandler(websocket.WebSocketHandler):
    """One TCP connection to a session's Connect server, over a WebSocket."""

    def initialize(self, sessions: SessionService) -> None:
        self.sessions = sessions
        self.upstream: aiohttp.ClientWebSocketResponse | None = None
        self.activity = None
        self.pump: asyncio.Task | None = None

    def check_origin(self, origin: str) -> bool:
        """Token-authenticated (no cookies), so any origin may connect."""
        return True

    async def get(self, session_id: str) -> None:
        try:
            caller = await self.sessions.auth.caller(self)
            upgrade = self.request.headers.get("Upgrade", "").lower() == "websocket"
            found, activity = await self.sessions.tunnel_target(caller, session_id, upgrade)
            api = self.sessions.registry.api(found.cluster)
            self.upstream = await dial(api, found.namespace, found.pod["metadata"]["name"], CONNECT_PORT,
                                       heartbeat=self.sessions.settings.tunnel_heartbeat or None)
        except PortForwardError as err:
            return self._refuse(503, f"The gateway could not reach session {session_id}'s driver: {err}. "
                                     "Try again shortly; if it persists, stop the session and start a new one.")
        except (GatewayError, aiohttp.ClientError, OSError, asyncio.TimeoutError) as err:
            return self._refuse(*error_answer(err, 500))
        self.activity = activity
        await super().get(session_id)
        if self.ws_connection is None and self.upstream is not None:  # the upgrade was refused
            await self.upstream.close()

    def write_error(self, status_code: int, **kwargs) -> None:
        """Errors before the upgrade (e.g. 405 for another method) as JSON, like every endpoint."""
        self._refuse(*error_answer(kwargs.get("exc_info", (None, None, None))[1], status_code))

    def _refuse(self, status: int, message: str) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        if status == 401:
            self.set_header("WWW-Authenticate", 'token realm="JupyterHub"')
        if status == 405:
            self.set_header("Allow", "GET")
        self.finish(json.dumps({"status": status, "message": message}))

    def open(self, session_id: str) -> None:
        self.activity.opened()
        self.pump = asyncio.create_task(self._downstream())

    async def on_message(self, message: str | bytes) -> None:
        if self.upstream is None or self.upstream.closed:
            return
        self.activity.last = time.monotonic()
        data = message if isinstance(message, bytes) else message.encode()
        for start in range(0, len(data), CHUNK_LIMIT):
            await self.upstream.send_bytes(frame(data[start:start + CHUNK_LIMIT]))

    async def _downstream(self) -> None:
        try:
            async for msg in self.upstream:
                if msg.type != aiohttp.WSMsgType.BINARY or len(msg.data) < 2:
                    continue
                if msg.data[0] == DATA_CHANNEL:
                    self.activity.last = time.monotonic()
                    await self.write_message(msg.data[1:], binary=True)
                elif msg.data[0] == ERROR_CHANNEL:
                    log.warning("tunnel: %s", msg.data[1:].decode(errors="replace"))
        except (websocket.WebSocketClosedError, aiohttp.ClientError, ConnectionError):
            pass
        finally:
            self.close()

    def on_close(self) -> None:
        if self.activity is not None:
            self.activity.closed()
            self.activity = None
        if self.upstream is not None:
            asyncio.ensure_future(self.upstream.close())
        if self.pump is not None and self.pump is not asyncio.current_task():
            self.pump.cancel()


def session_routes(base_url: str, service, sessions: SessionService | None) -> list:
    """The sessions endpoints' URL table under ``base_url``."""
    def at(path: str) -> str:
        return url_path_join(base_url, "api/v1", path) + "/?"
    session = r"(?P<session_id>[^/]+)"
    extra = {"service": service, "sessions": sessions}
    return [
        (at("sessions"), SessionsHandler, extra),
        (at(f"sessions/{session}"), SessionHandler, extra),
        (at(f"sessions/{session}/tunnel"), TunnelHandler, {"sessions": sessions}),
    ]


def add_session_routes(app: web.Application, service, sessions: SessionService, base_url: str) -> None:
    """Serve the sessions endpoints under ``base_url`` (ahead of the catch-all 404)."""
    app.add_handlers(r".*", session_routes(base_url, service, sessions))
