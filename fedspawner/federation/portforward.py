"""A byte stream to a pod's port through its cluster's apiserver (``pods/portforward``).

The gateway reaches a session's Connect server this way, and the spawner its notebook
servers (``access: portforward``), with the member cluster's own namespace-scoped credential
and no route to the cluster's pods. One WebSocket (protocol ``v4.channel.k8s.io``) carries
one TCP connection: messages on channel 0 are the stream's bytes, on channel 1 the
apiserver's errors (e.g. nothing listens on the port).
"""

from __future__ import annotations

import asyncio

import aiohttp
from kubernetes_asyncio import client

DATA_CHANNEL, ERROR_CHANNEL = 0, 1
#: Most bytes of one message to the apiserver.
CHUNK_LIMIT = 64 * 1024
#: What an HTTP/2 client sends first (the preface and an empty SETTINGS frame); a gRPC server
#: answers it with its own SETTINGS.
HTTP2_OPENING = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])


class PortForwardError(RuntimeError):
    """The apiserver refused or failed the port-forward; the message says why."""


async def dial(api: client.ApiClient, namespace: str, pod: str, port: int,
               heartbeat: float | None = None) -> aiohttp.ClientWebSocketResponse:
    """Open one port-forward stream to ``namespace/pod:port``; its announcement frames are read.

    With ``heartbeat`` (seconds) the stream is pinged that often and closed when the apiserver does
    not answer (a stalled apiserver otherwise keeps the stream open, silent, for ever)."""
    url = f"{api.configuration.host}/api/v1/namespaces/{namespace}/pods/{pod}/portforward?ports={port}"
    headers: dict[str, str] = {}
    await api.update_params_for_auth(headers, [], ["BearerToken"])
    session: aiohttp.ClientSession = api.rest_client.pool_manager
    try:
        ws = await session.ws_connect(url.replace("https://", "wss://", 1).replace("http://", "ws://", 1),
                                      protocols=("v4.channel.k8s.io",), headers=headers, max_msg_size=0,
                                      heartbeat=heartbeat)
    except aiohttp.WSServerHandshakeError as err:
        raise PortForwardError(f"the apiserver refused the port-forward ({err.status} {err.message})") from None
    except aiohttp.ClientError as err:
        raise PortForwardError(f"the port-forward failed ({type(err).__name__}: {err})") from None
    for _ in range(2):  # each channel first announces the port (channel byte + 2 bytes)
        msg = await ws.receive()
        if msg.type != aiohttp.WSMsgType.BINARY or len(msg.data) < 3:
            await ws.close()
            raise PortForwardError(f"the port-forward opened unexpectedly ({msg.type.name})")
    return ws


def frame(data: bytes) -> bytes:
    """Bytes for the pod, as one data-channel message."""
    return bytes([DATA_CHANNEL]) + data


async def connect_answers(api: client.ApiClient, namespace: str, pod: str, port: int,
                          timeout: float = 5.0) -> bool:
    """Whether an HTTP/2 (gRPC) server answers on ``pod:port`` now."""
    ws = await asyncio.wait_for(dial(api, namespace, pod, port), timeout)
    try:
        await ws.send_bytes(frame(HTTP2_OPENING))
        msg = await asyncio.wait_for(ws.receive(), timeout)
        while msg.type == aiohttp.WSMsgType.BINARY and len(msg.data) < 2:
            msg = await asyncio.wait_for(ws.receive(), timeout)
        return msg.type == aiohttp.WSMsgType.BINARY and msg.data[0] == DATA_CHANNEL
    finally:
        await ws.close()
