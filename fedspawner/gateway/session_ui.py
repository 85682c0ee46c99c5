"""A session's Spark UI, fetched through its member cluster's apiserver (``pods/portforward``).

The driver serves its UI on ``SPARK_UI_PORT`` of its pod. The gateway sends each browser
request there as one HTTP/1.0 request over a port-forward stream (no route to the pod needed)
and answers with what the driver said. Spark writes its links under the prefix named by the
``X-Forwarded-Context`` header (its support for proxies in front of the UI), so pages, scripts
and the REST calls of its pages stay under the gateway's ``.../ui/``; the absolute redirects
Jetty makes (``/`` to ``/jobs/``) are rewritten here to stay under it too.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import aiohttp
from kubernetes_asyncio import client

from ..federation.portforward import CHUNK_LIMIT, DATA_CHANNEL, dial, frame
from ..jobs.render.spark_common import SPARK_UI_PORT

#: The most bytes of one answer of the UI (its pages are tens of kilobytes; a big application's
#: JSON a few megabytes).
MAX_ANSWER_BYTES = 32 * 1024 * 1024
#: The headers of the driver's answer passed on to the browser (no cookies, no hop-by-hop headers).
PASSED_HEADERS = ("content-type", "cache-control", "expires", "last-modified", "etag", "content-disposition")


class UiUnavailable(RuntimeError):
    """The driver's UI did not answer, or answered something that is not HTTP; the message says which."""


@dataclass
class UiAnswer:
    """The driver's answer: status, the headers passed on, the body."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


def ui_request(path: str, prefix: str) -> bytes:
    """The HTTP/1.0 request for ``path`` (with its query) of the UI, which writes its links under ``prefix``."""
    lines = [f"GET {path} HTTP/1.0", "Host: localhost", f"X-Forwarded-Context: {prefix.rstrip('/')}",
             "Accept-Encoding: identity", "Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def parse_answer(raw: bytes) -> tuple[int, list[tuple[str, str]], bytes] | None:
    """``(status, headers, body)`` of a whole or partial HTTP/1.x answer; None while its head is incomplete."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        return None
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise UiUnavailable(f"the driver's UI port answered something other than HTTP ({lines[0][:60]!r})")
    headers = []
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if colon:
            headers.append((name.strip().lower(), value.strip()))
    return int(parts[1]), headers, body


def _complete(parsed: tuple[int, list[tuple[str, str]], bytes] | None) -> bool:
    if parsed is None:
        return False
    length = dict(parsed[1]).get("content-length", "")
    return length.isdigit() and len(parsed[2]) >= int(length)


def rewrite_location(location: str, prefix: str) -> str:
    """A redirect of the UI as the browser must follow it: under ``prefix`` (which ends in ``/``) and
    on the browser's own origin. Relative locations and those already under the prefix stay."""
    parts = urlsplit(location)
    path = parts.path or "/"
    if not parts.netloc and not path.startswith("/"):
        return location
    if not path.startswith(prefix):
        path = prefix.rstrip("/") + path
    return path + (f"?{parts.query}" if parts.query else "")


async def fetch_ui(api: client.ApiClient, namespace: str, pod: str, path: str, prefix: str,
                   timeout: float = 30.0) -> UiAnswer:
    """GET ``path`` of the UI in ``namespace/pod``, whose pages are to be served under ``prefix``."""
    try:
        ws = await asyncio.wait_for(dial(api, namespace, pod, SPARK_UI_PORT), timeout)
    except asyncio.TimeoutError:
        raise UiUnavailable(f"the cluster's apiserver did not open a stream to the driver in {timeout:.0f}s") from None
    raw = bytearray()
    try:
        request = ui_request(path, prefix)
        for start in range(0, len(request), CHUNK_LIMIT):
            await ws.send_bytes(frame(request[start:start + CHUNK_LIMIT]))
        async with asyncio.timeout(timeout):
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.BINARY or len(msg.data) < 2 or msg.data[0] != DATA_CHANNEL:
                    continue
                raw += msg.data[1:]
                if len(raw) > MAX_ANSWER_BYTES:
                    raise UiUnavailable(f"the UI's answer is over {MAX_ANSWER_BYTES // 2**20} MiB")
                if _complete(parse_answer(bytes(raw))):
                    break
    except TimeoutError:
        raise UiUnavailable(f"the driver's UI did not answer in {timeout:.0f}s") from None
    finally:
        await ws.close()
    parsed = parse_answer(bytes(raw))
    if parsed is None:
        raise UiUnavailable("nothing listens on the driver's UI port (the Spark UI is off, or the driver is "
                            "still starting)" if not raw else "the driver's UI closed the connection mid-answer")
    status, headers, body = parsed
    passed = {name: value for name, value in headers if name in PASSED_HEADERS}
    location = dict(headers).get("location")
    if location:
        passed["location"] = rewrite_location(location, prefix)
    return UiAnswer(status, passed, body)
