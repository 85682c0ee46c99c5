"""The one error type the kernel side raises for things a user can fix.

Whatever goes wrong between the notebook and the gateway (a 4xx with the
gateway's message, an unreachable gateway, a missing token, a bad argument to a
magic) becomes a ``GatewayRequestError`` whose text is one paragraph for people. The
magics print that paragraph and return None; no traceback reaches the notebook.
"""

from __future__ import annotations

from ..errors import UserError

__all__ = ["ArgumentsError", "GatewayRequestError"]


class GatewayRequestError(UserError):
    """A request the gateway refused or could not serve, with a message for people.

    ``status`` is the HTTP status when the gateway answered (None when it could
    not be reached or the request never left the kernel); ``str(error)`` and
    ``message`` are the paragraph to show.
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ArgumentsError(GatewayRequestError):
    """Arguments of a magic or of ``submit`` that can't work, found before any request is sent."""
