"""REST endpoints of interactive Spark sessions and their tunnel (documented in ``openapi.yaml``).

``api/v1/sessions`` (POST create, GET list), ``api/v1/sessions/<id>`` (GET, DELETE) answer JSON
like every endpoint of ``handlers``. ``api/v1/sessions/<id>/tunnel`` is a WebSocket carrying one
TCP connection to the session's Spark Connect server: binary messages both ways are the
connection's bytes; the gateway relays them over a port-forward through the member cluster's
apiserver. Each WebSocket is authorised with the caller's hub token, and only the session's
owner may open one (anyone else: 403 before the upgrade).

``api/v1/sessions/<id>/ui/<path>`` is the session's Spark UI (GET), for its owner only: with the
hub token in a header, or in a browser signed in through the hub's OAuth (``browser_auth``;
``<base_url>oauth_callback`` ends that sign-in). The pages come from the driver through the
member cluster's apiserver (``session_ui``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time

import aiohttp
from jupyterhub.utils import url_path_join
from tornado import web, websocket

from ..jobs.render.spark_connect import CONNECT_PORT
from .auth import Caller
from .browser_auth import OAuthCallbackHandler, browser_oauth, cookie_token, enable_cookies, login_redirect
from .errors import Forbidden, GatewayError, NotAuthenticated
from .handlers import ApiHandler, error_answer
from .session_ui import UiUnavailable, fetch_ui
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


class SparkUiHandler(web.RequestHandler):
    """A session's Spark UI, page by page, for its owner."""

    def initialize(self, sessions: SessionService, oauth) -> None:
        self.sessions = sessions
        self.oauth = oauth

    async def get(self, session_id: str, path: str | None = None) -> None:
        try:
            caller = await self._caller()
            if caller is None:
                return self.redirect(login_redirect(self.oauth, self))
            found = await self.sessions.session(caller, session_id)
            if caller.name != found.owner:
                raise Forbidden(f"Session {session_id} belongs to another user; only its owner may see its Spark UI.")
            if (found.pod.get("status") or {}).get("phase") != "Running":
                raise GatewayError(f"Session {session_id}'s driver is not running yet, so its Spark UI is not up; "
                                   "try again once `%fedspark status` says Ready.", 409)
            prefix, rest = split_ui_path(self.request.path)
            if not rest:  # ".../ui": the UI's pages link relative to ".../ui/"
                return self.redirect(prefix)
            query = f"?{self.request.query}" if self.request.query else ""
            answer = await fetch_ui(self.sessions.registry.api(found.cluster), found.namespace,
                                    found.pod["metadata"]["name"], rest + query, prefix)
        except UiUnavailable as err:
            return self._refuse(502, f"Session {session_id}'s Spark UI could not be shown: {err}.")
        except (GatewayError, aiohttp.ClientError, OSError, asyncio.TimeoutError) as err:
            return self._refuse(*error_answer(err, 500))
        activity = self.sessions.activity.get(session_id)
        if activity is not None:  # looking at the UI is using the session
            activity.last = time.monotonic()
        self.set_status(answer.status)
        for name, value in answer.headers.items():
            self.set_header(name, value)
        self.set_header("X-Frame-Options", "SAMEORIGIN")
        self.finish(answer.body)

    async def _caller(self) -> Caller | None:
        """Who asks: the token in the header, else the browser's sign-in cookie (None: a browser to send
        through the hub's sign-in)."""
        token = cookie_token(self.oauth, self) if self.oauth is not None else None
        if token is None:
            try:
                return await self.sessions.auth.caller(self)
            except NotAuthenticated:
                if self.oauth is None or self.request.headers.get("Authorization"):
                    raise
                return None
        try:
            return await self.sessions.auth.caller_for_token(token)
        except NotAuthenticated:  # the cookie's token expired or was revoked: sign in again
            self.oauth.clear_cookie(self)
            return None

    def write_error(self, status_code: int, **kwargs) -> None:
        """Errors of other methods (405) as JSON, like every endpoint."""
        self._refuse(*error_answer(kwargs.get("exc_info", (None, None, None))[1], status_code))

    def _refuse(self, status: int, message: str) -> None:
        self.clear()
        self.set_status(status)
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        if status == 401:
            self.set_header("WWW-Authenticate", 'token realm="JupyterHub"')
        if status == 405:
            self.set_header("Allow", "GET")
        self.finish(json.dumps({"status": status, "message": message}))


_UI_PATH = re.compile(r"(.*?/api/v1/sessions/[^/]+/ui)(/.*)?$")


def split_ui_path(request_path: str) -> tuple[str, str]:
    """``(prefix, path)`` of a request for a session's UI: the path the UI is served under (ending in
    ``/``) and the UI's own path (``/jobs/``; empty for ``.../ui``), both as sent (percent-encoded)."""
    match = _UI_PATH.match(request_path)
    if match is None:
        raise ValueError(f"not a path of a session's UI: {request_path!r}")
    return match.group(1) + "/", match.group(2) or ""


def session_routes(base_url: str, service, sessions: SessionService | None, oauth=None) -> list:
    """The sessions endpoints' URL table under ``base_url`` (``oauth``: the hub's OAuth for browsers)."""
    def at(path: str) -> str:
        return url_path_join(base_url, "api/v1", path) + "/?"
    session = r"(?P<session_id>[^/]+)"
    extra = {"service": service, "sessions": sessions}
    routes = [
        (at("sessions"), SessionsHandler, extra),
        (at(f"sessions/{session}"), SessionHandler, extra),
        (at(f"sessions/{session}/tunnel"), TunnelHandler, {"sessions": sessions}),
        (url_path_join(base_url, "api/v1", f"sessions/{session}/ui") + r"(?:/(?P<path>.*))?", SparkUiHandler,
         {"sessions": sessions, "oauth": oauth}),
    ]
    if oauth is not None:
        routes.append((url_path_join(base_url, "oauth_callback"), OAuthCallbackHandler, {"oauth": oauth}))
    return routes


def add_session_routes(app: web.Application, service, sessions: SessionService, base_url: str) -> None:
    """Serve the sessions endpoints under ``base_url`` (ahead of the catch-all 404); browsers sign in to
    the Spark UI through the hub's OAuth when the hub registered the gateway as its client."""
    oauth = browser_oauth(sessions.auth.hub_auth)
    if oauth is not None:
        enable_cookies(app, sessions.auth.hub_auth.api_token)
    app.add_handlers(r".*", session_routes(base_url, service, sessions, oauth))
