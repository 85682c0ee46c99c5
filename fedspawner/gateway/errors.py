"""The errors the gateway answers with: an HTTP status and one paragraph for people."""

from __future__ import annotations

from ..errors import UserError


class GatewayError(UserError):
    """A request the gateway cannot carry out; ``status`` is the HTTP status to answer.

    ``message`` is shown to the user as is, so it says what was wrong and what to do,
    without internals or tracebacks.
    """

    status = 400

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status


class BadRequest(GatewayError):
    """Malformed or invalid input (400, ``GatewayError``'s own status)."""


class NotAuthenticated(GatewayError):
    """No valid JupyterHub token (401)."""

    status = 401


class Forbidden(GatewayError):
    """Authenticated, but not allowed (403): another user's job, or a spec escaping the sandbox."""

    status = 403


class NotFound(GatewayError):
    """No such job or resource (404)."""

    status = 404


class TooLarge(GatewayError):
    """A request body over the gateway's limit (413)."""

    status = 413


class Unsatisfiable(GatewayError):
    """A valid request that no member cluster can run now (422)."""

    status = 422


class ClusterUnavailable(GatewayError):
    """The member cluster holding a job did not answer (503)."""

    status = 503
