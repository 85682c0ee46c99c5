"""List-and-watch of one Kubernetes resource, kept as plain dicts.

Objects stay as decoded JSON (no model classes: decoding thousands of nodes into
kubernetes_asyncio models costs seconds). The watch resumes from the last
resourceVersion, relists on 410 Gone, and backs off on errors; every change calls
``on_change`` at once, so consumers see a cluster change within milliseconds.

A watch never gives up: whatever fails (the network, a 403 while the credential's
RoleBinding is away, an answer it cannot read) is kept in ``error`` for people to see and
tried again, so the copy recovers by itself once the cause is gone.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Callable

from kubernetes_asyncio.client.rest import ApiException

log = logging.getLogger(__name__)


#: Longest wait between two attempts after a failure (a 403 waits up to ``FORBIDDEN_BACKOFF_MAX``).
BACKOFF_MAX = 5.0
FORBIDDEN_BACKOFF_MAX = 15.0


class WatchForbidden(Exception):
    """The credential may not list this resource (403); raised only by watches made with
    ``raise_forbidden`` (e.g. to find out whether nodes are visible at all)."""


def status_message(status: int, body: bytes) -> str:
    """The ``message`` of a Kubernetes Status body, or the start of the body."""
    try:
        return json.loads(body).get("message") or f"HTTP {status}"
    except (ValueError, AttributeError):
        return body[:300].decode(errors="replace") or f"HTTP {status}"


def raise_for_status(status: int, body: bytes) -> None:
    """Raw responses (``_preload_content=False``) do not raise by themselves: raise the
    ApiException the client would have raised (``reason`` is the Status message)."""
    if 200 <= status < 300:
        return
    err = ApiException(status=status, reason=status_message(status, body))
    err.body = body.decode(errors="replace")
    raise err


class ResourceWatch:
    """Mirror of one resource collection, by ``namespace/name``."""

    def __init__(self, list_fn: Callable, *, args: tuple = (), label_selector: str | None = None,
                 field_selector: str | None = None, on_change: Callable[[str, dict], None] | None = None,
                 name: str = "", page_size: int = 500, transform: Callable[[dict], dict] | None = None,
                 raise_forbidden: bool = False, forbidden_is_empty: bool = True):
        self.list_fn = list_fn
        self.args = args
        self.selectors = {k: v for k, v in (("label_selector", label_selector),
                                            ("field_selector", field_selector)) if v}
        self.on_change = on_change or (lambda kind, obj: None)
        self.name = name
        self.page_size = page_size
        self.transform = transform or (lambda obj: obj)  # applied to each object before it is kept
        self.objects: dict[str, dict] = {}
        self.synced = asyncio.Event()
        self.resource_version: str | None = None
        self.raise_forbidden, self.forbidden_is_empty = raise_forbidden, forbidden_is_empty
        #: Why the last attempt failed (None while the watch works): shown to people.
        self.error: str | None = None

    @staticmethod
    def key(obj: dict) -> str:
        meta = obj["metadata"]
        return f"{meta.get('namespace', '')}/{meta['name']}"

    async def _list(self) -> None:
        objects: dict[str, dict] = {}
        cont = None
        while True:
            kwargs = dict(self.selectors, limit=self.page_size, _preload_content=False, _request_timeout=30)
            if cont:
                kwargs["_continue"] = cont
            resp = await self.list_fn(*self.args, **kwargs)
            body = await resp.read()
            resp.release()
            raise_for_status(resp.status, body)
            page = json.loads(body)
            for item in page.get("items") or []:  # an empty list may come as ``"items": null``
                objects[self.key(item)] = self.transform(item)
            cont = (page.get("metadata") or {}).get("continue")
            if not cont:
                self.resource_version = page["metadata"]["resourceVersion"]
                break
        self.objects = objects
        self._recovered()
        self.on_change("RELIST", {})
        self.synced.set()

    def _not_served(self) -> None:
        """Nothing of a resource the server does not serve exists: an empty, synced copy."""
        if self.objects:
            self.objects = {}
            self.on_change("RELIST", {})
        self.synced.set()

    async def _watch_once(self) -> bool:
        """Stream events until the server closes; False means the list must be redone."""
        resp = await self.list_fn(*self.args, watch=True, resource_version=self.resource_version,
                                  allow_watch_bookmarks=True, timeout_seconds=240, _preload_content=False,
                                  _request_timeout=300, **self.selectors)
        if resp.status != 200:
            body = await resp.read()
            resp.release()
            raise_for_status(resp.status, body)
        self._recovered()
        try:
            while True:
                line = await resp.content.readline()
                if not line:
                    return True
                event = json.loads(line)
                kind, obj = event["type"], event["object"]
                if kind == "ERROR":
                    if obj.get("code") == 410:
                        return False
                    raise ApiException(status=obj.get("code", 500), reason=obj.get("message", "watch error"))
                self.resource_version = obj["metadata"].get("resourceVersion", self.resource_version)
                if kind == "BOOKMARK":
                    continue
                obj = self.transform(obj)
                if kind == "DELETED":
                    self.objects.pop(self.key(obj), None)
                else:
                    self.objects[self.key(obj)] = obj
                self.on_change(kind, obj)
        finally:
            resp.release()

    def _forbidden(self) -> None:
        """A 403: what was seen stays (the rights may come back); with ``forbidden_is_empty``, a copy
        never listed reads as empty, so its consumers are not held up by an optional resource the
        credential may not see (else it stays unsynced, and ``error`` says why)."""
        if not self.synced.is_set() and self.forbidden_is_empty:
            self.objects = {}
            self.on_change("RELIST", {})
            self.synced.set()

    def _failed(self, why: str) -> None:
        """Note a failed attempt: said once per spell of failures, then quietly retried."""
        if self.error is None:
            log.warning("watch %s failed: %s; retrying until it works", self.name, why)
        else:
            log.debug("watch %s failed again: %s", self.name, why)
        self.error = why

    def _recovered(self) -> None:
        if self.error is not None:
            log.info("watch %s works again", self.name)
            self.error = None

    async def run(self) -> None:
        """List, then watch forever. A 404 (not served) counts as no objects, a 403 as described in
        ``_forbidden`` (or raises WatchForbidden with ``raise_forbidden``); every failure is retried
        with backoff."""
        backoff = 0.2
        need_list = True
        while True:
            most = BACKOFF_MAX
            try:
                if need_list:
                    await self._list()
                need_list = not await self._watch_once()
                backoff = 0.2
            except asyncio.CancelledError:
                raise
            except ApiException as err:
                if err.status == 403:
                    if self.raise_forbidden:
                        raise WatchForbidden(f"{self.name}: {err.reason}") from None
                    self._forbidden()
                    most = FORBIDDEN_BACKOFF_MAX
                need_list = need_list or err.status in (403, 404, 410)
                if err.status == 404:  # the resource is not served (e.g. its CRD went away): none exist
                    self._not_served()
                    log.debug("watch %s: not served", self.name)
                else:
                    self._failed(f"HTTP {err.status}: {err.reason}")
            except Exception as err:  # noqa: BLE001 - network trouble or an unreadable answer: retry
                self._failed(f"{type(err).__name__}: {err}" if str(err) else type(err).__name__)
                need_list = True
            await asyncio.sleep(min(backoff, most))
            backoff = min(backoff * 2, most)
