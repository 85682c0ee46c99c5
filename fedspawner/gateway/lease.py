"""Which gateway replica guards the jobs of each member cluster: one coordination.k8s.io Lease each.

Several gateway replicas may serve one federation; each would otherwise fail the same
stuck job over to two clusters at once. ``ClusterLeases`` holds (or waits for) the
Lease ``fedspawner-gateway-failover`` in the federation's namespace on every member
cluster, as Kubernetes controllers elect a leader: the holder renews it every third of
its duration; another replica takes it over only once it has seen no renewal for a
whole duration (timed on its own clock, so clocks of different machines need not
agree); a replica that stops releases its Leases so the others take over at once.
The jobs of a cluster are guarded by the replica holding that cluster's Lease, so
replicas share the work cluster by cluster.

Where the credential may not use Leases (403) or the cluster does not serve them,
this replica guards that cluster's jobs alone and says so in the log (run one replica
there, or grant the ``leases`` rule that ``fedspawner join`` declares).
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable
from datetime import datetime, timezone

from kubernetes_asyncio.client.rest import ApiException

from ..federation.registry import ClusterRegistry
from . import kube

log = logging.getLogger(__name__)

LEASES = kube.Resource("coordination.k8s.io", "v1", "leases", "Lease")
LEASE_NAME = "fedspawner-gateway-failover"
#: Seconds between tries where Leases cannot be used (a later grant is picked up).
UNSHARED_RETRY = 60.0


def replica_identity() -> str:
    """This process's name as a Lease holder: host, process id and a random suffix."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


def micro_time(at: float | None = None) -> str:
    """A Kubernetes MicroTime (RFC 3339 with microseconds, UTC)."""
    moment = datetime.fromtimestamp(time.time() if at is None else at, timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeasesNotUsable(Exception):
    """The cluster does not serve Leases (404 on create) or the credential may not use them (403)."""


class ClusterLease:
    """This replica's claim to one cluster's Lease."""

    def __init__(self, api, namespace: str, identity: str, duration: float, name: str = LEASE_NAME):
        self.api, self.namespace, self.identity, self.name = api, namespace, identity, name
        self.duration = max(int(round(duration)), 1)  # whole seconds, as the Lease states it
        self.timeout = max(self.duration / 3, 1.0)  # a request slower than a renewal period fails
        self.held_until = 0.0        # monotonic time until which this replica holds the Lease
        self.unshared = False        # the Lease cannot be used here: this replica guards alone
        self._seen: tuple | None = None  # (holder, renewTime) last read, and when (monotonic)
        self._seen_at = 0.0

    @property
    def held(self) -> bool:
        """Whether this replica may guard the cluster's jobs now."""
        return self.unshared or time.monotonic() < self.held_until

    def _body(self, lease: dict | None, transitions: int) -> dict:
        now = micro_time()
        spec = {"holderIdentity": self.identity, "leaseDurationSeconds": self.duration,
                "renewTime": now, "leaseTransitions": transitions,
                "acquireTime": ((lease or {}).get("spec") or {}).get("acquireTime") if self._ours(lease) else now}
        meta = {"name": self.name, "namespace": self.namespace}
        if lease is not None:
            meta["resourceVersion"] = lease["metadata"]["resourceVersion"]
        return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta, "spec": spec}

    def _ours(self, lease: dict | None) -> bool:
        return bool(lease) and (lease.get("spec") or {}).get("holderIdentity") == self.identity

    def _expired(self, lease: dict) -> bool:
        """Whether the holder has not renewed for a whole duration, as seen from here."""
        spec = lease.get("spec") or {}
        seen = (spec.get("holderIdentity"), spec.get("renewTime"))
        now = time.monotonic()
        if seen != self._seen:
            self._seen, self._seen_at = seen, now
        duration = float(spec.get("leaseDurationSeconds") or self.duration)
        return not seen[0] or now - self._seen_at >= duration

    async def _call(self, method: str, name: str | None = None, body: dict | None = None) -> dict | None:
        """One request about the Lease; None for 404; LeasesNotUsable for 403."""
        try:
            return await kube.request(self.api, method, LEASES.path(self.namespace, name), body=body,
                                      timeout=self.timeout)
        except ApiException as err:
            if err.status == 403:
                raise LeasesNotUsable(err.reason) from None
            if err.status == 404:
                return None
            raise

    async def try_hold(self) -> bool:
        """Acquire or renew the Lease once; whether this replica holds it now. Raises
        ``LeasesNotUsable`` when the cluster or the credential does not allow Leases."""
        started = time.monotonic()
        lease = await self._call("GET", self.name)
        if lease is not None and not self._ours(lease) and not self._expired(lease):
            self.held_until = 0.0
            return False
        transitions = int(((lease or {}).get("spec") or {}).get("leaseTransitions") or 0)
        if lease is not None and not self._ours(lease):
            transitions += 1
        try:
            if lease is None:
                if await self._call("POST", body=self._body(None, 0)) is None:
                    raise LeasesNotUsable("the cluster does not serve coordination.k8s.io/v1 Leases")
            elif await self._call("PUT", self.name, self._body(lease, transitions)) is None:
                self.held_until = 0.0  # deleted meanwhile: created again on the next try
                return False
        except ApiException as err:
            if err.status in (409, 422):  # another replica wrote it first
                self.held_until = 0.0
                return False
            raise
        self.held_until = started + self.duration
        return True

    async def release(self) -> None:
        """Give the Lease up (when this replica stops), so another takes over at once."""
        if self.unshared:
            return
        self.held_until = 0.0
        try:  # also when the hold lapsed here: a renewal may have reached the apiserver unanswered
            lease = await self._call("GET", self.name)
            if self._ours(lease):
                body = self._body(lease, int(lease["spec"].get("leaseTransitions") or 0))
                body["spec"]["holderIdentity"] = ""
                await self._call("PUT", self.name, body)
        except Exception as err:  # noqa: BLE001 - it expires by itself then
            log.info("could not release the failover lease (%s); it expires in %ds", err, self.duration)


class ClusterLeases:
    """This replica's Leases on every member cluster, kept renewed.

    ``on_acquired(cluster)`` is called each time this replica starts holding a cluster's Lease
    (it then looks at every job there).
    """

    def __init__(self, registry: ClusterRegistry, duration: float, on_acquired: Callable[[str], None],
                 identity: str | None = None):
        self.identity = identity or replica_identity()
        self.duration = duration
        self.on_acquired = on_acquired
        self.leases = {name: ClusterLease(registry.api(name), member.namespace, self.identity, duration)
                       for name, member in registry.members.items()}
        self._tasks: list[asyncio.Task] = []

    def holds(self, cluster: str) -> bool:
        """Whether this replica guards ``cluster``'s jobs now."""
        lease = self.leases.get(cluster)
        return lease is not None and lease.held

    def start(self) -> None:
        """Start acquiring and renewing every cluster's Lease (idempotent)."""
        if not self._tasks:
            self._tasks = [asyncio.create_task(self._keep(name, lease), name=f"lease-{name}")
                           for name, lease in self.leases.items()]

    async def stop(self) -> None:
        """Stop renewing, and release the Leases held."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await asyncio.gather(*(lease.release() for lease in self.leases.values()))

    async def _keep(self, cluster: str, lease: ClusterLease) -> None:
        period = max(lease.duration / 3, 0.2)
        while True:
            was = lease.held
            try:
                now_held = await lease.try_hold()
                lease.unshared = False
            except LeasesNotUsable as err:
                if not lease.unshared:
                    log.warning("%s: the failover lease cannot be used (%s); this gateway replica guards the "
                                "cluster's jobs alone — run a single replica, or grant 'leases' (fedspawner "
                                "join does)", cluster, err)
                lease.unshared = True
                now_held = True
            except Exception as err:  # noqa: BLE001 - unreachable or slow: keep what is still valid
                log.info("%s: renewing the failover lease failed (%s)", cluster, err)
                now_held = lease.held
            if now_held and not was:
                log.info("%s: this gateway replica (%s) now guards the cluster's jobs", cluster, self.identity)
                self.on_acquired(cluster)
            await asyncio.sleep(UNSHARED_RETRY if lease.unshared else period)
