"""HTTP to the gateway: one request description, a blocking and an asyncio transport.

A ``Request`` says what to send; ``send``/``stream`` carry it with the standard
library (blocking, for magics and plain Python) and ``asend``/``astream`` with
aiohttp (for the widget, on the kernel's event loop). Both honour the usual
proxy variables (``HTTP_PROXY``, ``NO_PROXY``) alike. Both sides turn every
failure into a ``GatewayRequestError`` through the same functions, so a refused
request reads the same whichever way it went.
"""

from __future__ import annotations

import codecs
import http.client
import json
import re
import socket
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import GatewayRequestError

__all__ = ["LineSplitter", "Request", "asend", "astream", "decode_json", "error_for", "send", "stream"]

CHUNK = 64 * 1024


@dataclass(frozen=True)
class Request:
    """One HTTP request to the gateway.

    ``timeout`` bounds a whole plain request; for a stream it is the longest
    silence tolerated between two chunks (the gateway's watch sends a heartbeat
    every 15 s, so a stream that stays silent for longer is dead), None for none.
    """

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None
    timeout: float | None = 30.0


def _text_of(body: bytes) -> str:
    """A short excerpt of an error body that is not JSON, when it is plain text (``404 page not
    found``); nothing of a markup page (a proxy's HTML error page is no message for people)."""
    text = body.decode("utf-8", "replace")
    if re.search(r"<[A-Za-z!/]", text):
        return ""
    text = " ".join(text.split())
    return text[:300] + ("…" if len(text) > 300 else "")


def error_for(status: int, body: bytes, url: str) -> GatewayRequestError:
    """The ``GatewayRequestError`` for an HTTP error answer.

    The gateway answers ``{"status": ..., "message": "..."}``; its message is
    shown as is. Anything else (the proxy's 404 when the service is not
    registered, a 502 while the gateway restarts) gets a paragraph of our own.
    """
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    message = data.get("message") if isinstance(data, dict) else None
    if isinstance(message, str) and message.strip():
        if status >= 500:
            message = (f"The fedspawner gateway failed (HTTP {status}): {message.strip()} This is an outage "
                       "or a bug on the hub's side, not a problem with your job; try again, and tell your "
                       "hub's administrators if it persists.")
        return GatewayRequestError(message.strip(), status)
    excerpt = _text_of(body)
    detail = f": {excerpt.rstrip('.')}." if excerpt else "."
    if status == 404:
        return GatewayRequestError(
            f"The fedspawner gateway was not found at {url} (HTTP 404){detail} Check that the hub runs the "
            "fedspawner-gateway service, or set FEDSPAWNER_GATEWAY_URL to its address.", status)
    if status == 413:
        return GatewayRequestError(
            f"The request was too large for the fedspawner gateway (HTTP 413){detail} A job's script may be "
            "up to 900 KiB: put larger files in a dataset or the image instead.", status)
    if status in (401, 403):
        return GatewayRequestError(
            f"The hub refused this kernel's token for the fedspawner gateway (HTTP {status}){detail} Your "
            "notebook server's token may have expired (restart the server from the hub's home page), or "
            "your account may not be allowed to use the gateway.", status)
    if status in (502, 503, 504):
        return GatewayRequestError(
            f"The fedspawner gateway is not answering right now (HTTP {status}){detail} It may be "
            "restarting; try again in a moment.", status)
    return GatewayRequestError(f"The fedspawner gateway answered HTTP {status} for {url}{detail}", status)


def why(err: BaseException) -> str:
    """An exception as a few words (some network errors have an empty text)."""
    return str(err) or type(err).__name__


def unreachable(url: str, reason: object) -> GatewayRequestError:
    """The ``GatewayRequestError`` for a gateway that could not be reached at all."""
    return GatewayRequestError(
        f"Can't reach the fedspawner gateway at {url}: {reason}. Check that the hub is up and that "
        "FEDSPAWNER_GATEWAY_URL (if you set it) is right; your jobs keep running meanwhile.")


def decode_json(status: int, body: bytes, url: str) -> dict[str, Any]:
    """The JSON object of a successful answer, or the error it stands for."""
    if status >= 400:
        raise error_for(status, body, url)
    try:
        data = json.loads(body) if body else {}
    except ValueError:
        what = _text_of(body) or ("a web page" if body.strip() else "an empty body")
        raise GatewayRequestError(f"The fedspawner gateway at {url} answered with something that is not JSON "
                                  f"({what}); is that URL really the gateway?", status) from None
    if not isinstance(data, dict):
        raise GatewayRequestError(f"The fedspawner gateway at {url} answered with unexpected JSON.", status)
    return data


class LineSplitter:
    """Turns a stream of byte chunks into complete text lines (UTF-8, ``\\n``-separated).

    Lines of any length are fine (no per-line buffer limit), a multi-byte
    character split across chunks is reassembled, and ``\\r\\n`` is accepted.
    """

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._partial = ""

    def feed(self, chunk: bytes) -> list[str]:
        """The lines completed by ``chunk``."""
        text = self._partial + self._decoder.decode(chunk)
        *lines, self._partial = text.split("\n")
        return [line.removesuffix("\r") for line in lines]

    def close(self) -> list[str]:
        """The last line when the stream did not end with a newline."""
        rest = self._partial + self._decoder.decode(b"", final=True)
        self._partial = ""
        return [rest.removesuffix("\r")] if rest else []


# --- blocking (standard library) ----------------------------------------------------------------

#: A connection that failed or broke off: socket errors, and what ``http.client`` raises for a
#: malformed or cut answer (``IncompleteRead`` of a dropped chunked stream, ``RemoteDisconnected``...).
_BROKEN = (OSError, http.client.HTTPException)


def _open(request: Request):
    req = urllib.request.Request(request.url, data=request.body, method=request.method,
                                 headers=dict(request.headers))
    try:
        return urllib.request.urlopen(req, timeout=request.timeout)
    except urllib.error.HTTPError as err:
        with err:
            raise error_for(err.code, err.read(), request.url) from None
    except urllib.error.URLError as err:
        raise unreachable(request.url, err.reason) from None
    except (TimeoutError, socket.timeout):
        raise unreachable(request.url, f"no answer within {request.timeout} s") from None
    except _BROKEN as err:
        raise unreachable(request.url, why(err)) from None


def send(request: Request) -> tuple[int, bytes]:
    """Send a request and read the whole answer: ``(status, body)``."""
    with _open(request) as resp:
        try:
            return resp.status, resp.read()
        except _BROKEN as err:
            raise unreachable(request.url, why(err)) from None


def stream(request: Request) -> Iterator[bytes]:
    """Send a request and yield the answer's bytes as they arrive (closing on exit)."""
    with _open(request) as resp:
        while True:
            try:
                chunk = resp.read1(CHUNK)
            except _BROKEN as err:
                raise unreachable(request.url, f"the stream broke off ({why(err)})") from None
            if not chunk:
                return
            yield chunk


# --- asyncio (aiohttp) --------------------------------------------------------------------------

async def asend(request: Request) -> tuple[int, bytes]:
    """``send`` on the running event loop."""
    import aiohttp

    timeout = aiohttp.ClientTimeout(total=request.timeout)
    try:
        async with aiohttp.ClientSession(timeout=timeout, trust_env=True) as session:
            async with session.request(request.method, request.url, data=request.body,
                                       headers=dict(request.headers)) as resp:
                return resp.status, await resp.read()
    except (aiohttp.ClientError, TimeoutError, OSError) as err:
        raise unreachable(request.url, why(err)) from None


async def astream(request: Request) -> AsyncIterator[bytes]:
    """``stream`` on the running event loop; the first chunk is ``b""``, as soon as the gateway has
    accepted the request (so a relay can answer its own client before any data arrives)."""
    import aiohttp

    timeout = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=request.timeout)
    try:
        async with aiohttp.ClientSession(timeout=timeout, trust_env=True) as session:
            async with session.request(request.method, request.url, data=request.body,
                                       headers=dict(request.headers)) as resp:
                if resp.status >= 400:
                    raise error_for(resp.status, await resp.read(), request.url)
                yield b""
                async for chunk in resp.content.iter_any():
                    yield chunk
    except (aiohttp.ClientError, TimeoutError, OSError) as err:
        raise unreachable(request.url, why(err)) from None
