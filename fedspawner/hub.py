"""Hooks for ``jupyterhub_config.py``: the availability endpoint and a one-line set-up.

    from fedspawner.hub import configure_hub
    configure_hub(c)   # after c.Federation.clusters and the spawner's settings

``configure_hub`` selects the federated spawner, adds the availability endpoint the
launch form polls, and validates the member clusters now, so that a malformed entry
stops the hub at start-up with one message naming the cluster and field.
"""

from __future__ import annotations

import json
import sys
import time

from jupyterhub.apihandlers.base import APIHandler
from tornado import web

from .federation.config import Federation, FederationConfigError
from .federation.registry import ClusterRegistry
from .spawner.availability import AVAILABILITY_PATH, availability
from .spawner.namespaces import check_profiles
from .spawner.unsupported import CLUSTER_CONNECTION, check_unsupported

MAX_WAIT = 25.0


class AvailabilityHandler(APIHandler):
    """GET /hub/api/fedspawner/availability[?since=VERSION&wait=SECONDS]

    Clusters and GPU types with live free counts for the caller (the launch form's
    cookie, or any hub token). With ``since`` (the ``version`` of the last answer), waits
    up to ``wait`` seconds until what this caller sees changes: a change shows within
    moments, and changes that do not alter the caller's view wake nobody.
    """

    async def get(self):
        if self.current_user is None:
            raise web.HTTPError(403, "log in to the hub to see GPU availability")
        registry = ClusterRegistry.shared(self.settings.get("config"))
        await registry.start()
        await registry.wait_ready()
        since = self.get_argument("since", "")
        try:
            wait = min(float(self.get_argument("wait", "0")), MAX_WAIT)
        except ValueError:
            raise web.HTTPError(400, "wait must be a number of seconds") from None
        groups = frozenset(g.name for g in getattr(self.current_user, "groups", []) or [])
        payload = availability(registry.snapshot(), groups)
        deadline = time.monotonic() + wait
        while since and payload["version"] == since and time.monotonic() < deadline:
            await registry.wait_for_change(registry.version, deadline - time.monotonic())
            payload = availability(registry.snapshot(), groups)
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(payload))


def availability_handlers() -> list[tuple[str, type]]:
    """For ``c.JupyterHub.extra_handlers``."""
    return [(AVAILABILITY_PATH, AvailabilityHandler)]


def _spawner_setting(c, name: str, default=None):
    """A spawner setting as the federated spawner will see it (its own section wins)."""
    for section in ("FederatedKubeSpawner", "KubeSpawner"):
        if section in c and name in c[section]:
            return c[section][name]
    return default


def configure_hub(c) -> None:
    """Use the federated spawner and check the federation's configuration now (call it
    after the spawner settings, ``profile_list`` included, so that they are checked too)."""
    c.JupyterHub.spawner_class = "fedspawner"
    handlers = list(c.JupyterHub.extra_handlers or []) if "extra_handlers" in c.JupyterHub else []
    c.JupyterHub.extra_handlers = handlers + availability_handlers()
    try:
        members = Federation(config=c).validate()
        check_profiles(_spawner_setting(c, "profile_list", []), members,
                       bool(_spawner_setting(c, "enable_user_namespaces", False)))
        check_unsupported({name: _spawner_setting(c, name) for name in CLUSTER_CONNECTION})
    except FederationConfigError as err:
        sys.exit(f"fedspawner: {err}")
