"""Signing browsers in to the gateway's pages (a session's Spark UI) with the hub's OAuth.

API callers send their token in a header. A browser following a link sends none: the
gateway then sends it through the hub's OAuth (``HubOAuth``; the hub registers an OAuth
client for every service with a URL), keeps the token it gets in a cookie on the gateway's
path, and reads it from there on each request. Only GET pages take the cookie, so it cannot
be used to change anything.
"""

from __future__ import annotations

import hashlib
import hmac

from jupyterhub.services.auth import HubAuth, HubOAuth, HubOAuthCallbackHandler
from tornado import web
from tornado.httputil import url_concat
from traitlets import TraitError


def browser_oauth(hub_auth: HubAuth) -> HubOAuth | None:
    """The hub's OAuth for this gateway, when the hub registered it as an OAuth client (None: browsers
    cannot sign in; they get the API's 401)."""
    if not hub_auth.api_token:
        return None
    oauth = HubOAuth(config=hub_auth.config, api_url=hub_auth.api_url, api_token=hub_auth.api_token)
    try:
        return oauth if oauth.oauth_client_id else None
    except TraitError:  # no $JUPYTERHUB_CLIENT_ID and no c.HubOAuth.oauth_client_id
        return None


def enable_cookies(app: web.Application, api_token: str) -> None:
    """Give the app the secret its signed cookies need, derived from the gateway's hub token: every
    replica of the gateway (they share the token) reads the cookies the others set, also after a
    restart, and the OAuth sign-in may end on a replica other than the one it began on. A new token
    makes browsers sign in again, at once and without a prompt."""
    secret = hmac.new(api_token.encode(), b"fedspawner gateway browser cookies", hashlib.sha256).hexdigest()
    app.settings.setdefault("cookie_secret", secret)


def cookie_token(oauth: HubOAuth, handler: web.RequestHandler) -> str | None:
    """The hub token the browser's cookie holds (None: none, or the request sent a token of its own)."""
    if handler.request.headers.get("Authorization"):
        return None
    return oauth.get_token(handler, in_cookie=True) or None


def login_redirect(oauth: HubOAuth, handler: web.RequestHandler) -> str:
    """Where to send a browser to sign in; it comes back to the page it asked for."""
    params = {}
    verifier = None
    if oauth.pkce_enabled:
        verifier, challenge, method = oauth.generate_pkce_code_challenge()
        params.update(code_challenge=challenge, code_challenge_method=method)
    params["state"] = oauth.set_state_cookie(handler, next_url=handler.request.uri, code_verifier=verifier)
    return url_concat(oauth.login_url, params)


class OAuthCallbackHandler(HubOAuthCallbackHandler):
    """``<base_url>oauth_callback``: the hub's OAuth ends here (the cookie is set, the browser sent back)."""

    def initialize(self, oauth: HubOAuth) -> None:
        self.hub_auth = oauth
