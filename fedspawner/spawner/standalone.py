"""Spawners outside a hub: for benchmarks, tests and scripts that drive a spawner
directly (``await spawner.start()``) against real clusters."""

from __future__ import annotations

from types import SimpleNamespace

from traitlets.config import Config


def make_spawner(cls, config: Config, name: str, options: dict | None = None, groups=()):
    """A spawner of ``cls`` for user ``name`` with hub-like surroundings."""
    user = SimpleNamespace(name=name, id=1, url=f"/user/{name}/", escaped_name=name,
                           groups=[SimpleNamespace(name=g) for g in groups])
    hub = SimpleNamespace(public_host="127.0.0.1", url="http://127.0.0.1:8081/hub/", base_url="/hub/",
                          api_url="http://127.0.0.1:8081/hub/api")
    spawner = cls(user=user, hub=hub, config=config, api_token=f"token-{name}", oauth_client_id=f"client-{name}")
    spawner.user_options = options or {}
    return spawner
