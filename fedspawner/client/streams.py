"""Streamed answers of the gateway, readable with ``for`` or ``async for``.

``Stream`` wraps one request and a line decoder. Iterating it with ``for``
uses the blocking transport (plain Python, ``%fedlogs -f``); with ``async for``
the asyncio one (the widget). Either way the lines come out as they arrive,
and leaving the loop early closes the connection.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, Generic, TypeVar

from . import transport
from .errors import GatewayRequestError

__all__ = ["Stream", "log_line", "watch_line"]

T = TypeVar("T")


class Stream(Generic[T]):
    """The decoded lines of one streamed request; ``decode`` returns None to skip a line."""

    def __init__(self, request: transport.Request, decode: Callable[[str], T | None]) -> None:
        self.request = request
        self.decode = decode

    def _decoded(self, lines: list[str]) -> Iterator[T]:
        for line in lines:
            item = self.decode(line)
            if item is not None:
                yield item

    def __iter__(self) -> Iterator[T]:
        splitter = transport.LineSplitter()
        for chunk in transport.stream(self.request):
            yield from self._decoded(splitter.feed(chunk))
        yield from self._decoded(splitter.close())

    def __aiter__(self) -> AsyncIterator[T]:
        return self._aiter()

    async def _aiter(self) -> AsyncIterator[T]:
        splitter = transport.LineSplitter()
        async for chunk in transport.astream(self.request):
            for item in self._decoded(splitter.feed(chunk)):
                yield item
        for item in self._decoded(splitter.close()):
            yield item


def log_line(line: str) -> str:
    """Log lines are passed through as they are."""
    return line


def watch_line(line: str) -> dict[str, Any] | None:
    """One NDJSON line of ``/jobs/{id}/watch``: the Job dict, or None for a heartbeat.

    An error the gateway reports in the stream (``{"status": ..., "message": ...}``)
    is raised as a ``GatewayRequestError``.
    """
    if not line.strip():
        return None
    try:
        data = json.loads(line)
    except ValueError:
        raise GatewayRequestError(f"The gateway's watch stream sent a line that is not JSON: {line[:200]!r}.") \
            from None
    if not isinstance(data, dict):
        return None
    if isinstance(data.get("job"), dict):
        return data["job"]
    if isinstance(data.get("message"), str) and isinstance(data.get("status"), int):
        raise GatewayRequestError(data["message"], data["status"])
    return None
