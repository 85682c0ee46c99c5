"""A local port forwarding to a pod through its cluster's apiserver (port-forward).

``PortForwardTunnel`` listens on a loopback port in the hub process; every TCP
connection to it becomes one port-forward stream to the pod (the apiserver's
``pods/portforward`` subresource over WebSocket, channel protocol ``v4.channel.k8s.io``).
It needs only namespace-scoped rights and no ingress controller. ``probe`` asks the
server once, quietly, whether it answers yet (the tunnel access mode waits on it before
the proxy is pointed at the tunnel).
"""

from __future__ import annotations

import asyncio
import logging
import struct

import aiohttp
from kubernetes_asyncio import client

from ...federation.portforward import PortForwardError, dial

log = logging.getLogger(__name__)

DATA, ERROR = 0, 1
CHUNK = 64 * 1024


class TunnelError(RuntimeError):
    """The port-forward could not be opened; the message says why."""


class PortForwardTunnel:
    """A local listener forwarding to ``namespace/pod:port`` on one member cluster."""

    def __init__(self, api: client.ApiClient, namespace: str, pod: str, port: int, local_port: int = 0,
                 local_host: str = "127.0.0.1"):
        self.api, self.namespace, self.pod, self.port = api, namespace, pod, port
        self.local_host, self.local_port = local_host, local_port
        self._server: asyncio.base_events.Server | None = None
        self._streams: set[asyncio.Task] = set()

    @property
    def url(self) -> str:
        return f"http://{self.local_host}:{self.local_port}"

    async def start(self) -> int:
        """Listen (on the given local port, or a free one) and return the port."""
        self._server = await asyncio.start_server(self._serve, self.local_host, self.local_port)
        self.local_port = self._server.sockets[0].getsockname()[1]
        return self.local_port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for task in list(self._streams):
            task.cancel()
        await asyncio.gather(*self._streams, return_exceptions=True)

    @property
    def running(self) -> bool:
        return self._server is not None

    async def probe(self, path: str, timeout: float = 5.0) -> bool:
        """Send one HTTP request for ``path`` through a new stream: True when the server
        answers (any status), False when nothing listens on the port yet. Raises TunnelError
        or asyncio.TimeoutError when the apiserver refuses or does not answer in ``timeout``."""
        return await asyncio.wait_for(self._probe(path), timeout)

    async def _probe(self, path: str) -> bool:
        ws = await self._connect()
        try:
            request = f"GET {path} HTTP/1.1\r\nHost: {self.local_host}\r\nConnection: close\r\n\r\n"
            await ws.send_bytes(struct.pack("B", DATA) + request.encode())
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.BINARY or len(msg.data) < 2:
                    continue
                if msg.data[0] == DATA:
                    return msg.data[1:].startswith(b"HTTP/")
                if msg.data[0] == ERROR:  # e.g. "connection refused": the server is not listening yet
                    log.debug("port-forward probe %s/%s:%s: %s", self.namespace, self.pod, self.port,
                              msg.data[1:].decode(errors="replace"))
                    return False
            return False
        except (aiohttp.ClientError, ConnectionError) as err:  # the stream was closed on a refused port
            log.debug("port-forward probe %s/%s:%s closed: %s", self.namespace, self.pod, self.port, err)
            return False
        finally:
            await ws.close()

    async def _connect(self) -> aiohttp.ClientWebSocketResponse:
        try:
            return await dial(self.api, self.namespace, self.pod, self.port)
        except PortForwardError as err:
            raise TunnelError(f"port-forward to {self.namespace}/{self.pod}: {err}") from None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._streams.add(task)
        try:
            ws = await self._connect()
        except (TunnelError, asyncio.TimeoutError) as err:
            log.warning("%s", err)
            writer.close()
            self._streams.discard(task)
            return
        try:
            await asyncio.gather(self._upstream(reader, ws), self._downstream(ws, writer))
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            await ws.close()
            writer.close()
            self._streams.discard(task)

    @staticmethod
    async def _upstream(reader: asyncio.StreamReader, ws: aiohttp.ClientWebSocketResponse) -> None:
        while True:
            data = await reader.read(CHUNK)
            if not data:
                await ws.close()
                return
            await ws.send_bytes(struct.pack("B", DATA) + data)

    async def _downstream(self, ws: aiohttp.ClientWebSocketResponse, writer: asyncio.StreamWriter) -> None:
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.BINARY or not msg.data:
                continue
            channel, payload = msg.data[0], msg.data[1:]
            if channel == DATA:
                writer.write(payload)
                await writer.drain()
            elif channel == ERROR and payload:
                log.warning("port-forward %s/%s:%s: %s", self.namespace, self.pod, self.port,
                            payload.decode(errors="replace"))
        if writer.can_write_eof():
            writer.write_eof()
