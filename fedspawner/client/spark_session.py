"""Interactive Spark from a kernel: a Spark Connect session on a member cluster, through the gateway.

``spark_session(...)`` asks the gateway for a session (placed like a Spark job), waits until its
Spark Connect server answers, and returns a ``pyspark.sql.SparkSession`` connected to it. The
kernel needs no cluster credentials and no route to the cluster: the session's gRPC traffic
goes to a port on 127.0.0.1 in this process (``LocalTunnel``), and each TCP connection to that
port becomes one WebSocket to the gateway (``api/v1/sessions/<id>/tunnel``, authorised with
the notebook's hub token), which relays it to the driver through the member cluster's apiserver.

Needs the Spark Connect client (``pip install 'jupyterhub-fedspawner[spark]'``).
"""

from __future__ import annotations

import asyncio
import atexit
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import aiohttp

from . import spark_progress, transport
from .errors import GatewayRequestError
from .gateway import Gateway

__all__ = ["FedSparkSession", "LocalTunnel", "attach", "call", "current", "is_unreachable", "restart",
           "session_body", "spark_session"]

CHUNK = 64 * 1024
READY = "Ready"
#: How the Spark Connect client retries a call its session's tunnel could not carry: a few seconds, not
#: its default ten minutes (a session whose cluster is gone then says so at once; see ``failure``).
QUICK_RETRIES = {"max_retries": 4, "initial_backoff": 250, "max_backoff": 4000}
#: What a restarted session takes over from the one it replaces.
RESTARTED = ("executors", "cpu", "memory", "gpus", "image")
_current: FedSparkSession | None = None


def session_body(cluster: str | None = None, executors: int | None = None, cpu: str | None = None,
                 memory: str | None = None, conf: dict[str, str] | None = None, image: str | None = None,
                 name: str | None = None, gpus: str | None = None) -> dict[str, Any]:
    """The create request: only the options given (the gateway checks them all)."""
    body = {"cluster": cluster, "executors": executors, "cpu": cpu, "memory": memory, "gpus": gpus,
            "conf": conf or None, "image": image, "name": name}
    return {key: value for key, value in body.items() if value is not None}


def call(gateway: Gateway, method: str, path: str, body: Any = None, timeout: float | None = None) -> dict:
    request = gateway.request(method, path, body=body, **({"timeout": timeout} if timeout else {}))
    status, raw = transport.send(request)
    return transport.decode_json(status, raw, request.url)


def _session_path(session_id: str) -> str:
    return f"sessions/{quote(session_id, safe='')}"


class LocalTunnel:
    """A port on 127.0.0.1 whose every connection is relayed over a WebSocket to the gateway.

    Runs its own event loop on a daemon thread, so it works in any kernel (and next to the
    kernel's own loop). ``errors`` keeps the gateway's refusals (e.g. a 403), newest last.
    """

    def __init__(self, url: str, token: str):
        self.url, self.token = url, token
        self.port = 0
        self.errors: list[str] = []
        self.connections = 0
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.base_events.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="fedspark-tunnel", daemon=True)

    def start(self) -> int:
        """Listen; the port."""
        self._thread.start()
        self.port = asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(30)
        return self.port

    async def _listen(self) -> int:
        self._session = aiohttp.ClientSession()
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        """Close the port and every connection, and end the thread."""
        if not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]:
            task.cancel()
        await self._session.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        headers = {"Authorization": f"token {self.token}"}
        try:
            ws = await self._session.ws_connect(self.url, headers=headers, max_msg_size=0, autoping=True)
        except aiohttp.WSServerHandshakeError as err:
            self.errors.append(f"the gateway refused the tunnel ({err.status}): {err.message}")
            writer.close()
            return
        except (aiohttp.ClientError, OSError) as err:
            self.errors.append(f"the gateway could not be reached ({type(err).__name__}: {err})")
            writer.close()
            return
        self.connections += 1
        try:
            await asyncio.gather(self._up(reader, ws), self._down(ws, writer))
        except (ConnectionError, aiohttp.ClientError, asyncio.CancelledError):  # cancelled: ``stop``
            pass
        finally:
            self.connections -= 1
            await ws.close()
            writer.close()

    @staticmethod
    async def _up(reader: asyncio.StreamReader, ws: aiohttp.ClientWebSocketResponse) -> None:
        while data := await reader.read(CHUNK):
            await ws.send_bytes(data)
        await ws.close()

    @staticmethod
    async def _down(ws: aiohttp.ClientWebSocketResponse, writer: asyncio.StreamWriter) -> None:
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.BINARY:
                writer.write(msg.data)
                await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()


class FedSparkSession:
    """A session on a member cluster: its gateway view, the local tunnel and the SparkSession."""

    def __init__(self, gateway: Gateway, view: dict[str, Any]):
        self.gateway = gateway
        self.view = view
        self.tunnel: LocalTunnel | None = None
        self.spark = None
        self._atexit: Callable[[], None] | None = None

    @property
    def id(self) -> str:
        return self.view["id"]

    def status(self) -> dict[str, Any]:
        """The session as the gateway sees it now (phase, cluster, connections, idle time)."""
        self.view = call(self.gateway, "GET", _session_path(self.id))["session"]
        return self.view

    def wait_ready(self, timeout: float = 300.0, poll: float = 1.0) -> dict[str, Any]:
        """Wait until the Connect server answers; GatewayRequestError if it fails or takes too long."""
        deadline = time.monotonic() + timeout
        while self.status()["phase"] != READY:
            if self.view["phase"] == "Failed":
                raise GatewayRequestError(f"Session {self.id} failed to start: {self.view['message']}")
            if time.monotonic() > deadline:
                raise GatewayRequestError(f"Session {self.id} was not ready after {timeout:.0f}s "
                                          f"({self.view['message']}). It keeps starting; `%fedspark attach` "
                                          "connects once it is ready, `%fedspark stop` stops it.")
            time.sleep(poll)
        return self.view

    def connect(self):
        """Open the local tunnel and return a ``pyspark.sql.SparkSession`` through it."""
        try:
            from pyspark.sql import SparkSession
        except ImportError:
            raise GatewayRequestError("The Spark Connect client is not installed in this kernel: "
                                      "pip install 'jupyterhub-fedspawner[spark]' (or pyspark-client).") from None
        url = self.gateway.url.replace("https://", "wss://", 1).replace("http://", "ws://", 1)
        self.tunnel = LocalTunnel(f"{url}api/v1/{_session_path(self.id)}/tunnel", self.gateway.token)
        port = self.tunnel.start()
        self.spark = SparkSession.builder.remote(f"sc://127.0.0.1:{port}").create()
        spark_progress.attach(self.spark, self.view.get("ui_url"))  # live progress under each cell
        _retry_briefly(self.spark)
        return self.spark

    def failure(self, error: BaseException) -> str | None:
        """One message for a query that failed because the session could not be reached (its cluster or
        driver is gone, the gateway refused the tunnel), from the gateway's view of it; None when the
        failure is the query's own (Spark's error then says what is wrong)."""
        if not is_unreachable(error):
            return None
        try:
            view = self.status()
        except GatewayRequestError as err:
            return f"Spark session {self.id} could not be reached, and the gateway could not say why: {err}"
        refused = self.tunnel.errors[-1] if self.tunnel and self.tunnel.errors else ""
        if view["phase"] == READY:
            return (f"Spark session {self.id} on {view['cluster']} did not answer"
                    + (f" ({refused})" if refused else "") + "; it answers again now: run the cell again.")
        return f"Spark session {self.id} on {view['cluster']} cannot run queries: {view['message']}"

    def stop(self) -> dict[str, Any]:
        """End the SparkSession, close the tunnel and delete the session from its cluster."""
        global _current
        if self.spark is not None:
            try:
                self.spark.stop()
            except Exception:  # noqa: BLE001 - the server goes with the session anyway
                pass
            self.spark = None
        if self.tunnel is not None:
            self.tunnel.stop()
            self.tunnel = None
        if self._atexit is not None:
            atexit.unregister(self._atexit)
            self._atexit = None
        if _current is self:
            _current = None
        self.view = call(self.gateway, "DELETE", _session_path(self.id))["session"]
        return self.view

    def stop_with_kernel(self) -> None:
        """Stop the session when this process exits (a kernel shut down or restarted)."""
        def stop() -> None:
            try:
                self.stop()
            except Exception:  # noqa: BLE001 - exiting; the gateway's timeouts stop it otherwise
                pass
        self._atexit = stop
        atexit.register(stop)


def current() -> FedSparkSession | None:
    """The session this kernel started or attached last (None: none)."""
    return _current


def _narrate(view: dict[str, Any]) -> str:
    tried = "; ".join(view.get("tried") or [])
    gpus = f" / {view['gpus']} GPU" if view.get("gpus") else ""
    text = (f"Spark session {view['id']} on {view['cluster']} with {view['executors']} executor(s) of "
            f"{view['cpu']} CPU / {view['memory']}{gpus}: {view.get('placement') or 'chosen by the hub'}.")
    return text + (f" Tried first: {tried}." if tried else "")


def spark_session(cluster: str = "auto", executors: int | None = None, *, cpu: str | None = None,
                  memory: str | None = None, gpus: str | None = None, conf: dict[str, str] | None = None,
                  image: str | None = None, name: str | None = None, stop_with_kernel: bool = True,
                  timeout: float = 300.0, gateway: Gateway | None = None,
                  narrate: Callable[[str], None] | None = print):
    """Start a Spark session on a member cluster and return a ``pyspark.sql.SparkSession`` for it.

    ``cluster`` is ``"auto"`` (the hub chooses where the executors fit) or a cluster's name;
    ``executors``, ``cpu`` and ``memory`` (per pod), ``gpus`` per executor (``"TYPE:N"``, checked
    and placed as for jobs) and ``conf`` (Spark settings on the jobs' allow-list) size it. With
    ``stop_with_kernel`` the session is deleted when the kernel exits; otherwise it lives until
    stopped, or until the gateway's idle or detached timeout.
    ``narrate`` is told where the session runs and why.
    """
    global _current
    gateway = gateway or Gateway()
    body = session_body(cluster, executors, cpu, memory, conf, image, name, gpus)
    began = time.monotonic()
    session = FedSparkSession(gateway, call(gateway, "POST", "sessions", body=body)["session"])
    if narrate:
        narrate(_narrate(session.view) + " Starting…")
    if stop_with_kernel:
        session.stop_with_kernel()
    try:
        session.wait_ready(timeout)
        spark = session.connect()
    except BaseException:
        if stop_with_kernel:
            session.stop()
        raise
    _current = session
    if narrate:
        narrate(f"Ready after {time.monotonic() - began:.1f}s; `spark` talks to it through the gateway.")
    return spark


def attach(session_id: str | None = None, *, gateway: Gateway | None = None, stop_with_kernel: bool = False,
           narrate: Callable[[str], None] | None = print):
    """Reconnect to one of your sessions (the newest, or ``session_id``), e.g. after a kernel restart;
    a ``pyspark.sql.SparkSession``."""
    global _current
    gateway = gateway or Gateway()
    sessions = call(gateway, "GET", "sessions")["sessions"]
    chosen = [s for s in sessions if session_id in (None, s["id"], s["name"])]
    if not chosen:
        raise GatewayRequestError(f"You have no session {session_id!r}." if session_id else
                                  "You have no Spark session to attach to; `%fedspark start` starts one.")
    session = FedSparkSession(gateway, chosen[0])
    session.wait_ready(60)
    spark = session.connect()
    if stop_with_kernel:
        session.stop_with_kernel()
    _current = session
    if narrate:
        narrate(f"Attached to {_narrate(session.view)}")
    return spark


def restart(session_id: str | None = None, *, gateway: Gateway | None = None,
            narrate: Callable[[str], None] | None = print, **options: Any):
    """Stop one of your sessions (this kernel's, else ``session_id``, else your newest one that failed)
    and start a new one like it, on the cluster ``options`` name or wherever it fits now (``"auto"``):
    e.g. after its cluster stopped answering. Other ``options`` are ``spark_session``'s and override the
    old session's size. A ``pyspark.sql.SparkSession``."""
    gateway = gateway or Gateway()
    old = _current if _current is not None and session_id in (None, _current.id) else None
    view = old.view if old else _restartable(gateway, session_id)
    if old is not None:
        old.stop()
    else:
        call(gateway, "DELETE", _session_path(view["id"]))
    if narrate:
        narrate(f"Stopped {view['id']} on {view['cluster']} ({view.get('message') or view.get('phase')}); "
                "starting a new session.")
    kept = {key: view[key] for key in RESTARTED if view.get(key) is not None}
    return spark_session(**{"cluster": "auto", **kept, **options}, gateway=gateway, narrate=narrate)


def _restartable(gateway: Gateway, session_id: str | None) -> dict[str, Any]:
    sessions = call(gateway, "GET", "sessions")["sessions"]
    if session_id is not None:
        chosen = [s for s in sessions if session_id in (s["id"], s["name"])]
    else:
        chosen = [s for s in sessions if s["phase"] == "Failed"]
    if not chosen:
        raise GatewayRequestError(f"You have no session {session_id!r} to restart." if session_id else
                                  "None of your sessions failed, and this kernel has none: `%fedspark start` "
                                  "starts one (`%fedspark status` lists yours).")
    return chosen[0]


def _retry_briefly(spark) -> None:
    """Give the session's Spark Connect client ``QUICK_RETRIES`` (left as is where the client has no
    retry policies)."""
    try:
        from pyspark.sql.connect.client.retries import DefaultPolicy
        spark.client.set_retry_policies([DefaultPolicy(**QUICK_RETRIES)])
    except (ImportError, AttributeError):
        pass


def is_unreachable(error: BaseException) -> bool:
    """Whether a Spark Connect call failed for want of a connection (gRPC UNAVAILABLE), not by the query."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        code = getattr(error, "code", None)
        if callable(code):
            try:
                if getattr(code(), "name", "") == "UNAVAILABLE":
                    return True
            except Exception:  # noqa: BLE001 - not a gRPC error after all
                pass
        if getattr(error, "getGrpcStatusCode", None) and "UNAVAILABLE" in str(error.getGrpcStatusCode()):
            return True
        error = error.__cause__ or error.__context__
    return False
