"""The interface every access mode implements (one module per mode in this package)."""

from __future__ import annotations


class Access:
    """How the hub reaches a server on a member cluster.

    The spawner calls ``prepare`` before it builds the pod for a cluster, ``url`` once the
    pod runs (the start fails over when it raises ``failover.Failover`` or the cluster goes
    silent meanwhile), ``resume`` when ``poll`` finds the server running (after a hub
    restart, say) and ``close`` when the server stops. Modes hold no per-server state of
    their own beyond what the spawner keeps in its state.
    """

    #: The mode's name in the federation config (one of ``federation.model.ACCESS_MODES``).
    name = ""
    #: Can a hedged start race a standby here? A route made per cluster after the
    #: start (an ingress) cannot follow the winner.
    hedgeable = True

    def prepare(self, spawner) -> None:
        """Settings the pod needs on a cluster reached this way (before it is built)."""

    async def url(self, spawner, pod_url: str) -> str:
        """The URL the proxy uses for the running server whose own address is ``pod_url``."""
        return pod_url

    async def resume(self, spawner) -> None:
        """Re-establish what this process needs to reach a server found running."""

    async def close(self, spawner) -> None:
        """Release what this process holds for a server that stops."""
