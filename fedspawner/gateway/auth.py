"""Who is calling: JupyterHub tokens resolved with ``HubAuth``, authorised with hub scopes.

Callers send their JupyterHub token (a notebook's ``$JUPYTERHUB_API_TOKEN``) as
``Authorization: token ...``. The hub must grant the token
``access:services!service=<this service>`` (any user may call the gateway); a user
acts on their own jobs, and ``admin:users`` (admins) lets a caller see and act on all.
"""

from __future__ import annotations

from dataclasses import dataclass

from jupyterhub.services.auth import HubAuth
from tornado import web

from .config import SERVICE_NAME
from .errors import ClusterUnavailable, Forbidden, NotAuthenticated

ADMIN_SCOPE = "admin:users"
#: Needed to call the gateway when JupyterHub's environment names no scopes (an unmanaged replica).
DEFAULT_ACCESS = frozenset({f"access:services!service={SERVICE_NAME}"})


@dataclass(frozen=True)
class Caller:
    """An authenticated user (or service) and what they may do."""

    name: str
    groups: frozenset[str] = frozenset()
    admin: bool = False

    def may_act_on(self, owner: str | None) -> bool:
        return self.admin or (owner is not None and owner == self.name)


class Authenticator:
    """Resolves request tokens to callers through the hub (answers cached by HubAuth)."""

    def __init__(self, hub_auth: HubAuth):
        self.hub_auth = hub_auth

    async def caller(self, handler: web.RequestHandler) -> Caller:
        token = self.hub_auth.get_token(handler, in_cookie=False)
        if not token:
            raise NotAuthenticated("No JupyterHub token was sent. Send one as 'Authorization: token <token>' "
                                   "(in a notebook, $JUPYTERHUB_API_TOKEN).")
        return await self.caller_for_token(token)

    async def caller_for_token(self, token: str) -> Caller:
        """The caller a JupyterHub token stands for (401 when the hub does not accept it, 403 without
        the scope to use the gateway)."""
        try:
            model = await self.hub_auth.user_for_token(token, sync=False)
        except web.HTTPError as err:
            raise ClusterUnavailable("JupyterHub could not be asked who sent this token "
                                     f"({err.log_message or err.reason}); try again shortly.") from None
        if not model:
            raise NotAuthenticated("JupyterHub did not accept this token (expired, revoked or mistyped). "
                                   "Use your current JupyterHub token.")
        required = self.hub_auth.access_scopes or DEFAULT_ACCESS
        if not self.hub_auth.check_scopes(required, model):
            needed = " or ".join(sorted(required))
            raise Forbidden(f"Your token may not use the fedspawner gateway: it needs {needed}. Ask the "
                            "hub's administrators to grant it (the README's 'Registering the gateway').")
        scopes = set(model.get("scopes") or ())
        return Caller(name=model["name"], groups=frozenset(model.get("groups") or ()),
                      admin=ADMIN_SCOPE in scopes)
