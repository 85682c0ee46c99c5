"""The one JSON-over-HTTP client of the integration tests: the hub's, the gateway's and the Lab's REST APIs.

``request_json`` blocks (urllib); ``arequest_json`` runs on the event loop (aiohttp). Both
send ``body`` as JSON (or ``raw`` bytes as they are) with ``token`` as a JupyterHub token,
never raise for an HTTP error status, and answer an ``Answer``: the status, the decoded
JSON (the text when the answer is not JSON, None when it is empty) and the headers.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import aiohttp

__all__ = ["Answer", "arequest_json", "request_json"]


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


def _decode(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")


def token_headers(token: str | None) -> dict[str, str]:
    """The hub-token header of a caller (none without a token)."""
    return {"Authorization": f"token {token}"} if token else {}


def _prepare(body: Any, raw: bytes | None, token: str | None) -> tuple[bytes | None, dict[str, str]]:
    headers = token_headers(token)
    if raw is not None:
        return raw, headers
    if body is None:
        return None, headers
    return json.dumps(body).encode(), {**headers, "Content-Type": "application/json"}


def request_json(method: str, url: str, body: Any = None, *, token: str | None = None, raw: bytes | None = None,
                 timeout: float = 60) -> Answer:
    """``method`` on ``url``, blocking."""
    data, headers = _prepare(body, raw, token)
    req = urllib.request.Request(url, method=method, data=data, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return Answer(resp.status, _decode(resp.read()), dict(resp.headers))
    except urllib.error.HTTPError as err:
        return Answer(err.code, _decode(err.read()), dict(err.headers))


async def arequest_json(method: str, url: str, body: Any = None, *, token: str | None = None,
                        raw: bytes | None = None, timeout: float = 60,
                        session: aiohttp.ClientSession | None = None) -> Answer:
    """``method`` on ``url`` on the running event loop (in ``session`` when given, else a new one)."""
    data, headers = _prepare(body, raw, token)
    if session is None:
        async with aiohttp.ClientSession() as own:
            return await arequest_json(method, url, body, token=token, raw=raw, timeout=timeout, session=own)
    async with session.request(method, url, data=data, headers=headers,
                               timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
        return Answer(resp.status, _decode(await resp.read()), dict(resp.headers))
