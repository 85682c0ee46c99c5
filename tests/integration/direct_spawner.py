"""Configuration for driving ``FederatedKubeSpawner`` directly (no hub) against the sandbox."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from traitlets.config import Config

from fedspawner.federation.registry import ClusterRegistry
from fedspawner.sandbox.federation import member_clusters
from fedspawner.spawner.spawner import FederatedKubeSpawner


@asynccontextmanager
async def direct_spawner_config(sandbox, **kubespawner) -> AsyncIterator[Config]:
    """A config of the sandbox federation whose servers are small HTTP servers (``kubespawner``
    overrides KubeSpawner traits); the shared registry and reflectors are fresh inside, and
    stopped after."""
    c = Config()
    c.Federation.clusters = member_clusters(sandbox.state_dir)
    c.KubeSpawner.image = "python:3.11-slim"
    c.KubeSpawner.cmd = ["python", "-m", "http.server", "8888"]
    c.KubeSpawner.start_timeout = 60
    for name, value in kubespawner.items():
        setattr(c.KubeSpawner, name, value)
    await ClusterRegistry.reset_shared()
    try:
        yield c
    finally:
        await asyncio.wait_for(FederatedKubeSpawner._stop_all_reflectors(), 30)
        await asyncio.wait_for(ClusterRegistry.reset_shared(), 60)
