"""The one base class of every error a user (or an admin's configuration) can cause.

Each part of fedspawner raises its own subclass — ``JobSpecError`` for a job spec, the
gateway's ``GatewayError`` (with an HTTP status), the client's ``GatewayRequestError``, the
launch form's ``OptionsError``, ``SpawnRefused``, ``FederationConfigError`` — and whoever
shows it to a person catches ``UserError`` and shows ``message``: one paragraph saying
what was wrong and what to do, never a traceback. Pure; imports nothing.
"""

from __future__ import annotations

__all__ = ["UserError"]


class UserError(Exception):
    """Something a user can fix; ``message`` (also ``str(error)``) is the paragraph to show them."""

    @property
    def message(self) -> str:
        """The paragraph to show the user."""
        return str(self.args[0]) if self.args else ""
