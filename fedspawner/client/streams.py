"""Streamed answers of the gateway, readable with ``for`` or ``async for``.

``Stream`` wraps one request and a line decoder. Iterating it with ``for``
uses the blocking transport (plain Python, ``%fedlogs -f``); with ``async for``
the asyncio one (the widget). Either way the lines come out as they arrive,
and leaving the loop early closes the connection.

``LogFollow`` and ``WatchFollow`` follow a log or a job's watch across gateway
restarts: they reconnect with backoff and go on from where they were.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, Generic, TypeVar

from . import transport
from .errors import GatewayRequestError

__all__ = ["Backoff", "LogFollow", "Stream", "WatchFollow", "log_line", "permanent", "watch_line"]

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


# --- following across gateway restarts ----------------------------------------------------------

#: Reconnect delays: 0.5 s, doubling up to 5 s, back to 0.5 s once a stream delivers again.
RETRY_FIRST = 0.5
RETRY_MAX = 5.0
#: Lines of a log read to catch up after a reconnect (the gateway's default for a plain read).
CATCH_UP_LINES = 10_000
#: Lines a resumed follow re-reads before the new ones (what may have been written since catching up).
RESUME_MARGIN = 1_000
_DONE = frozenset({"Succeeded", "Failed", "Cancelled"})


class Backoff:
    """Delays for reconnecting: ``first``, doubling up to ``most``, back to ``first`` after ``reset``."""

    def __init__(self, first: float = RETRY_FIRST, most: float = RETRY_MAX) -> None:
        self.first, self.most = first, most
        self.delay = first

    def reset(self) -> None:
        self.delay = self.first

    def next(self) -> float:
        """The delay to wait now (the following one doubles)."""
        delay, self.delay = self.delay, min(self.delay * 2, self.most)
        return delay

    async def sleep(self) -> None:
        await asyncio.sleep(self.next())


def permanent(err: GatewayRequestError) -> bool:
    """A refusal that reconnecting will not change (no such job, not yours, bad token)."""
    return err.status is not None and 400 <= err.status < 500 and err.status not in (408, 409, 429)


class SeenLines:
    """The last lines shown of a log, to find where a new read of it goes on (after a reconnect)."""

    def __init__(self, size: int) -> None:
        self.lines: deque[str] = deque(maxlen=size)

    def add(self, line: str) -> None:
        self.lines.append(line)

    def after(self, lines: list[str]) -> list[str] | None:
        """What of ``lines`` (a read of the log) comes after the lines seen last: from the first place
        they all appear in order; all of ``lines`` when nothing was seen, None when they are not there."""
        seen = list(self.lines)
        if not seen:
            return list(lines)
        size = len(seen)
        for start in range(len(lines) - size + 1):
            if lines[start] == seen[0] and lines[start:start + size] == seen:
                return lines[start + size:]
        return None


class LogResume:
    """Where a followed log is, and what a reconnect must read to go on without repeating or losing a
    line. Used by ``LogFollow`` for both the blocking and the asyncio transport."""

    def __init__(self, tail: int | None, window: int = 200) -> None:
        self.tail = tail
        self.seen = SeenLines(window)
        self.resumed = False

    def caught_up(self, text_lines: list[str]) -> list[str]:
        """The new lines of a catch-up read (``CATCH_UP_LINES`` long at most)."""
        new = self.seen.after(text_lines)
        if new is None:  # the seen lines are not there: too much was written meanwhile, or the log began anew
            more = len(text_lines) >= CATCH_UP_LINES
            note = (f"[fedspawner: more than {CATCH_UP_LINES} lines were written while the connection was "
                    f"down; showing the last {len(text_lines)}]" if more else
                    "[fedspawner: the log started over while the connection was down]")
            new = [note, *text_lines]
        return new

    def follow_tail(self) -> int:
        """How many lines back a resumed follow starts (the seen ones and a margin)."""
        return len(self.seen.lines) + RESUME_MARGIN

    def skipper(self) -> "SkipSeen":
        """A filter for a resumed follow, which starts ``follow_tail`` lines back."""
        return SkipSeen(list(self.seen.lines), self.follow_tail())

    def shown(self, line: str) -> str:
        self.seen.add(line)
        return line


class SkipSeen:
    """Holds a resumed follow's lines back until the last lines seen went by, then lets every line
    through (all that was held, when they never come within ``limit`` lines)."""

    def __init__(self, seen: list[str], limit: int) -> None:
        self.seen, self.limit = seen, limit
        self.held: list[str] = []
        self.passing = not seen

    def __call__(self, line: str) -> list[str]:
        if self.passing:
            return [line]
        self.held.append(line)
        if self.held[-len(self.seen):] == self.seen:
            self.passing = True
            return []
        if len(self.held) >= self.limit:
            self.passing = True
            return self.held
        return []


class LogFollow:
    """A followed log that survives the gateway going away (restarts, network breaks, a proxy that
    keeps a dead stream open): after ``idle`` silent seconds or a broken stream it reconnects with
    backoff, reads what it missed and goes on, so every line is shown once and none is lost. It ends
    when the rank's pod has finished (``done`` says so) and its log is read to the end.

    ``request_for(tail, follow)`` makes the log request; ``done_request`` asks for the job
    (``GET jobs/{id}``) and ``rank`` says which pod's end to wait for.
    """

    def __init__(self, request_for: Callable[[int | None, bool], transport.Request], tail: int | None,
                 done_request: transport.Request, rank: int) -> None:
        self.request_for = request_for
        self.tail = tail
        self.done_request = done_request
        self.rank = rank

    def _done(self, status: int, body: bytes) -> bool:
        job = transport.decode_json(status, body, self.done_request.url).get("job") or {}
        if job.get("phase") in _DONE:
            return True
        return any(isinstance(p, dict) and p.get("rank") == self.rank and p.get("phase") in _DONE
                   for p in job.get("pods") or [])

    def __iter__(self) -> Iterator[str]:
        resume, backoff = LogResume(self.tail), Backoff()
        while True:
            try:
                for line in self._read(resume):
                    backoff.reset()
                    yield line
                if self._done(*transport.send(self.done_request)):
                    return
            except GatewayRequestError as err:
                if permanent(err):
                    raise
            resume.resumed = True
            time.sleep(backoff.next())

    def _read(self, resume: LogResume) -> Iterator[str]:
        """One connection's new lines (blocking)."""
        skip = None
        if resume.resumed:
            text = b"".join(transport.stream(self.request_for(CATCH_UP_LINES, False)))
            for line in resume.caught_up(_split(text)):
                yield resume.shown(line)
            skip = resume.skipper()
        request = self.request_for(resume.follow_tail() if resume.resumed else self.tail, True)
        for line in Stream(request, log_line):
            for new in skip(line) if skip else [line]:
                yield resume.shown(new)

    def __aiter__(self) -> AsyncIterator[str]:
        return self._aiter()

    async def _aiter(self) -> AsyncIterator[str]:
        resume, backoff = LogResume(self.tail), Backoff()
        while True:
            try:
                async for line in self._aread(resume):
                    backoff.reset()
                    yield line
                if self._done(*await transport.asend(self.done_request)):
                    return
            except GatewayRequestError as err:
                if permanent(err):
                    raise
            resume.resumed = True
            await backoff.sleep()

    async def _aread(self, resume: LogResume) -> AsyncIterator[str]:
        """One connection's new lines (asyncio)."""
        skip = None
        if resume.resumed:
            status, text = await transport.asend(self.request_for(CATCH_UP_LINES, False))
            if status >= 400:
                raise transport.error_for(status, text, self.done_request.url)
            for line in resume.caught_up(_split(text)):
                yield resume.shown(line)
            skip = resume.skipper()
        request = self.request_for(resume.follow_tail() if resume.resumed else self.tail, True)
        async for line in Stream(request, log_line):
            for new in skip(line) if skip else [line]:
                yield resume.shown(new)


def _split(text: bytes) -> list[str]:
    splitter = transport.LineSplitter()
    return splitter.feed(text) + splitter.close()


class WatchFollow:
    """A job's watch that survives the gateway going away: on a broken or silent stream it reconnects
    with backoff (the first line of a new stream is the job's whole state, so nothing is lost) and
    leaves out a line equal to the last one shown. It ends after the job's final line.

    ``on_retry(why, delay)`` is told of each reconnect (e.g. to show it); a refusal that retrying will
    not change (404: the job is gone; 401/403) is raised.
    """

    def __init__(self, request: transport.Request,
                 on_retry: Callable[[str, float], None] | None = None) -> None:
        self.request = request
        self.on_retry = on_retry or (lambda why, delay: None)

    def _retry(self, backoff: Backoff, why: str) -> float:
        delay = backoff.next()
        self.on_retry(why, delay)
        return delay

    @staticmethod
    def _is_new(job: dict[str, Any], seen: list) -> bool:
        """Whether ``job`` differs from the last one shown (``seen[0]``), which it becomes."""
        new, seen[0] = job != seen[0], job
        return new

    def __iter__(self) -> Iterator[dict[str, Any]]:
        seen, backoff = [None], Backoff()
        while True:
            try:
                for job in Stream(self.request, watch_line):
                    backoff.reset()
                    if self._is_new(job, seen):
                        yield job
                    if job.get("phase") in _DONE:
                        return
                why = "the gateway closed the stream"
            except GatewayRequestError as err:
                why = self._why(err)
            time.sleep(self._retry(backoff, why))

    @staticmethod
    def _why(err: GatewayRequestError) -> str:
        """Why the stream is reconnected; a refusal reconnecting cannot change is raised."""
        if permanent(err):
            raise err
        return err.message

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._aiter()

    async def _aiter(self) -> AsyncIterator[dict[str, Any]]:
        seen, backoff = [None], Backoff()
        while True:
            try:
                async for job in Stream(self.request, watch_line):
                    backoff.reset()
                    if self._is_new(job, seen):
                        yield job
                    if job.get("phase") in _DONE:
                        return
                why = "the gateway closed the stream"
            except GatewayRequestError as err:
                why = self._why(err)
            await asyncio.sleep(self._retry(backoff, why))
