"""``access: tunnel``: the proxy reaches the server through a port-forward in the hub process.

Every server reached this way has one ``PortForwardTunnel`` in this process, on the
loopback port kept in the spawner state (``tunnel_port``), so a restarted hub reopens it
on the same port. A start returns the tunnel's URL only once the server answers through
it: the proxy is never pointed at a server that does not listen yet (no refused
port-forwards in the log while it starts), and an apiserver that stops answering
meanwhile makes the start fail over instead of handing the hub a dead route.
"""

from __future__ import annotations

import asyncio
import logging

from ...federation import failover
from ...federation.model import ACCESS_TUNNEL
from ...federation.registry import ClusterRegistry
from .base import Access
from .portforward import PortForwardTunnel, TunnelError

log = logging.getLogger(__name__)

#: Seconds one probe through the tunnel may take before the apiserver counts as silent.
PROBE_TIMEOUT = 5.0
#: Seconds between probes while the server is not listening yet.
PROBE_EVERY = 0.25

#: The open tunnels of this process, by (cluster, namespace, pod).
_tunnels: dict[tuple[str, str, str], PortForwardTunnel] = {}


def _key(spawner) -> tuple[str, str, str]:
    return (spawner.cluster_name, spawner.namespace, spawner.pod_name)


class Tunnel(Access):
    """A port-forward through the member's apiserver: namespace rights only, no ingress."""

    name = ACCESS_TUNNEL

    async def url(self, spawner, pod_url: str) -> str:
        tunnel = await self._open(spawner)
        await self._until_listening(tunnel, spawner._server_path() + "api")
        spawner._narrate(f"{spawner.cluster_name}: reached through the apiserver (port-forward) at {tunnel.url}")
        return tunnel.url

    async def resume(self, spawner) -> None:
        try:
            await self._open(spawner)
        except (TunnelError, OSError) as err:
            spawner.log.warning("%s: could not reopen tunnel: %s", spawner._log_name, err)

    async def close(self, spawner) -> None:
        tunnel = _tunnels.pop(_key(spawner), None)
        if tunnel is not None:
            await tunnel.stop()
        spawner.tunnel_port = 0  # the next start (maybe elsewhere) takes a port of its own

    @staticmethod
    async def _open(spawner) -> PortForwardTunnel:
        key = _key(spawner)
        tunnel = _tunnels.get(key)
        if tunnel is None or not tunnel.running:
            tunnel = PortForwardTunnel(ClusterRegistry.shared(spawner.config).api(spawner.cluster_name),
                                       spawner.namespace, spawner.pod_name, spawner.port,
                                       local_port=spawner.tunnel_port)
            try:
                spawner.tunnel_port = await tunnel.start()
            except OSError:  # the saved port is taken: take another (the route is updated on start)
                tunnel.local_port = 0
                spawner.tunnel_port = await tunnel.start()
            _tunnels[key] = tunnel
        return tunnel

    @staticmethod
    async def _until_listening(tunnel: PortForwardTunnel, path: str) -> None:
        """Probe the server through the tunnel until it answers; fail over on a silent or
        refusing apiserver (the attempt's deadline bounds the wait)."""
        while True:
            try:
                if await tunnel.probe(path, PROBE_TIMEOUT):
                    return
            except asyncio.TimeoutError:
                raise failover.Failover(
                    f"the apiserver did not answer a port-forward within {PROBE_TIMEOUT:.0f} s") from None
            except TunnelError as err:
                raise failover.Failover(str(err)) from None
            await asyncio.sleep(PROBE_EVERY)
