"""Several gateway replicas share failover through one Lease per member cluster: a job is moved once.

The Lease rules run against a real apiserver with two claimants in this process; then a
second gateway process runs beside the hub-managed one: a stuck job is moved exactly once, a frozen
replica's clusters are taken over by the other, which moves the next stuck job, and
the woken replica does not take them back until the other stops and releases them.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time

import aiohttp
import pytest

from fedspawner.gateway import kube
from fedspawner.gateway.lease import LEASE_NAME, LEASES, ClusterLease

from .test_gateway_failover import SCRIPT
from .test_gateway_support import PID_FILE, Gateway, GatewayReplica, leftovers

pytestmark = pytest.mark.sandbox

STUCK_GANG = {"kind": "job", "script": SCRIPT.format(15), "nodes": 2, "cpu": "48", "memory": "300Gi",
              "cluster": ["regional", "onprem"]}
#: The hub's gateway renews every third of the default 15 s Lease.
LEASE_SECONDS = 15.0


async def test_one_claimant_holds_a_lease_until_it_releases_or_stops_renewing(hub_api, admin_api, sandbox):
    name = f"test-lease-{os.getpid()}"
    async with hub_api("onprem") as api:
        first = ClusterLease(api, sandbox.namespace, "replica-a", 2.0, name=name)
        second = ClusterLease(api, sandbox.namespace, "replica-b", 2.0, name=name)
        try:
            assert await first.try_hold() and first.held
            assert not await second.try_hold() and not second.held
            assert await first.try_hold()  # renewing
            await first.release()
            assert not first.held and await second.try_hold()  # released: taken over at once
            assert not await first.try_hold()
            # the holder stops renewing without releasing: the other waits a whole duration, on its own clock
            started = time.monotonic()
            while not await first.try_hold():
                assert time.monotonic() - started < 6, "the lease was never taken over"
                await asyncio.sleep(0.2)
            assert time.monotonic() - started >= 1.9
            assert not await second.try_hold()  # the one renewing again keeps it
            lease = await kube.request(api, "GET", LEASES.path(sandbox.namespace, name))
            assert lease["spec"]["holderIdentity"] == "replica-a" and lease["spec"]["leaseTransitions"] == 2
        finally:
            async with admin_api("onprem") as admin:  # the hub's credential may not delete Leases
                await kube.delete(admin, LEASES, sandbox.namespace, name)


async def holders(admin_api, namespace: str) -> dict[str, str]:
    """Who holds the failover Lease of each member cluster (by process id)."""
    found = {}
    for cluster in ("regional", "onprem"):
        async with admin_api(cluster) as api:
            lease = await kube.request(api, "GET", LEASES.path(namespace, LEASE_NAME))
        holder = lease["spec"].get("holderIdentity") or ""
        found[cluster] = holder.split("-")[-2] if holder.count("-") >= 2 else holder
    return found


async def until_holders(admin_api, namespace: str, pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while (seen := await holders(admin_api, namespace)) != {"regional": str(pid), "onprem": str(pid)}:
        assert time.monotonic() < deadline, f"the Leases are held by {seen}, not by process {pid}"
        await asyncio.sleep(0.5)


async def moved_once(client: Gateway, token: str, name: str) -> dict:
    job = await client.submit(token, {**STUCK_GANG, "name": name})
    assert job["cluster"] == "regional"
    done = await client.wait(token, job["id"], timeout=180)
    assert done["phase"] == "Succeeded" and done["cluster"] == "onprem", done
    assert len(done["history"]) == 1 and done["history"][0].endswith("failed over to onprem"), done["history"]
    return done


async def test_two_replicas_move_a_stuck_job_once_and_take_over_from_each_other(gw, token_for, admin_api,
                                                                                sandbox, tmp_path):
    carol = token_for("carol")
    first_pid = int(PID_FILE.read_text())
    await until_holders(admin_api, sandbox.namespace, first_pid, 30)  # the hub's replica started first
    second = GatewayReplica(tmp_path, sandbox.state_dir)
    frozen = False
    try:
        await second.start()
        done = await moved_once(gw, carol, "two-replicas")
        assert await leftovers(admin_api, "regional", sandbox.namespace, done["id"]) == []
        assert "failed over" not in second.log()  # the replica without the Lease left it alone

        os.kill(first_pid, signal.SIGSTOP)  # the hub's replica stops renewing (as a stalled node would)
        frozen = True
        await until_holders(admin_api, sandbox.namespace, second.process.pid, LEASE_SECONDS + 15)
        async with aiohttp.ClientSession() as session:
            direct = Gateway(session, base=second.url)
            try:
                taken_over = await moved_once(direct, carol, "taken-over")
                assert f"job {taken_over['id']} failed over from regional to onprem" in second.log()
            finally:
                os.kill(first_pid, signal.SIGCONT)
                frozen = False
                await direct.cleanup()
        await asyncio.sleep(LEASE_SECONDS / 3 + 1)  # the woken replica renews: it finds the Leases taken
        second_pid = str(second.process.pid)
        assert await holders(admin_api, sandbox.namespace) == {"regional": second_pid, "onprem": second_pid}
        second.stop()  # it releases them: the hub's replica takes over at its next renewal
        await until_holders(admin_api, sandbox.namespace, first_pid, LEASE_SECONDS / 3 + 5)
    finally:
        if frozen:
            os.kill(first_pid, signal.SIGCONT)
        second.stop()
