"""The one error type a user can cause when describing or rendering a job."""

from __future__ import annotations

from ..errors import UserError

__all__ = ["JobSpecError"]


class JobSpecError(UserError, ValueError):
    """A job spec that can't run, with one paragraph saying why and what to do.

    ``field`` names the offending spec field when there is one, so an API can
    point at it; ``str(error)`` is the whole message, fit to show a user as is.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field
