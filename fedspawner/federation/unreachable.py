"""The errors that mean "the member cluster could not be reached", in one place.

A kubernetes_asyncio call to an apiserver that is down, restarting or cut off raises one of
these instead of an :class:`ApiException` (connection refused or reset, a dropped stream, a
TLS handshake cut short, a timeout). Code that must survive a lost member catches
``UNREACHABLE`` rather than spelling out its own list, which is how one loop or another came
to miss ``aiohttp.ServerDisconnectedError`` (an ``aiohttp.ClientError`` that is not an
``OSError``).
"""

from __future__ import annotations

import asyncio

import aiohttp

#: Raised by a call whose apiserver could not be reached or answered too late.
UNREACHABLE: tuple[type[BaseException], ...] = (aiohttp.ClientError, asyncio.TimeoutError, OSError)
