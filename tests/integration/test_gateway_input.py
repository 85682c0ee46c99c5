"""What a user can send the gateway, through the hub's proxy: always a 4xx with a JSON message.

Bodies over the limit (declared or chunked), JSON nested too deep, query parameters that are
unknown, repeated, hold control characters or spell numbers in other scripts' digits, methods
an endpoint does not take (405 with ``Allow``), and a job whose anchor vanished under a request.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time

import aiohttp
import pytest

from fedspawner.federation.config import Federation
from fedspawner.federation.registry import ClusterRegistry
from fedspawner.gateway import kube
from fedspawner.gateway.cancel import delete_job
from fedspawner.gateway.config import Gateway
from fedspawner.gateway.discovery import BackendDiscovery
from fedspawner.gateway.store import JobStore
from fedspawner.gateway.submit import Submitter

from .direct_spawner import direct_spawner_config
from .sandbox_fixtures import until_healthy

from .test_gateway_support import GATEWAY, PID_FILE, gone, leftovers

pytestmark = pytest.mark.sandbox

SLEEP = "import time\ntime.sleep(300)\n"
LIMIT = "at most 4,194,304 bytes"


async def test_a_20_mib_body_is_a_json_413_and_the_connection_stays_usable(gw, token_for):
    alice = token_for("alice")
    async with aiohttp.ClientSession(headers={"Authorization": f"token {alice}"}) as session:
        began = time.monotonic()
        async with session.post(GATEWAY + "/jobs", data=b"x" * (20 * 2**20)) as resp:
            status, answer = resp.status, await resp.json(content_type=None)
        took = time.monotonic() - began

        async def chunks():
            for _ in range(5):
                yield b"y" * 2**20

        async with session.post(GATEWAY + "/jobs", data=chunks()) as resp:  # chunked: no length given
            chunked, chunked_answer = resp.status, await resp.json(content_type=None)
        async with session.get(GATEWAY + "/jobs") as resp:
            after = resp.status
    print(f"20 MiB body refused in {took:.2f}s")
    assert status == 413 and answer["status"] == 413 and LIMIT in answer["message"], answer
    assert chunked == 413 and LIMIT in chunked_answer["message"], chunked_answer
    assert after == 200


async def test_json_nested_too_deep_is_a_400(gw, token_for):
    for body in (b"[" * 100_000 + b"]" * 100_000, b'{"kind": ' * 40 + b"1" + b"}" * 40):
        status, answer = await gw.call("POST", "/jobs", token_for("alice"), raw=body)
        assert status == 400 and "more than 32 levels deep" in answer["message"], answer


@pytest.mark.parametrize("path, words", [
    ("/jobs/j-aaaaaaaa/logs?rank=%C2%B2", "not '²'"),
    ("/jobs/j-aaaaaaaa/logs?rank=%D9%A3", "'rank' must be a whole number"),
    ("/jobs/j-aaaaaaaa/logs?tail=1_0", "'tail' must be a whole number"),
    ("/jobs/j-aaaaaaaa/logs?container=..%2F..", "'container' must be a container name"),
    ("/jobs?state=%00", "'state' holds control characters"),
    ("/jobs/feed?state=%00", "'state' holds control characters"),
    ("/jobs?state=running&state=failed", "Give 'state' once"),
    ("/jobs?colour=blue", "Unknown query parameter 'colour'; this endpoint takes all, state"),
    ("/clusters?since=x&wait=1e3", "'wait' must be a number of seconds"),
    ("/jobs/feed?since=%FF", "'since' is not UTF-8"),
    ("/options?x=1", "this endpoint takes no query parameters"),
])
async def test_query_parameters_are_read_strictly(gw, token_for, path, words):
    status, answer = await gw.call("GET", path, token_for("alice"))
    assert status == 400 and words in answer["message"], (path, status, answer)


@pytest.mark.parametrize("method, path, allowed", [
    ("PATCH", "/jobs", "GET, POST"), ("PUT", "/jobs/j-aaaaaaaa", "GET, DELETE"), ("POST", "/clusters", "GET"),
    ("DELETE", "/jobs/j-aaaaaaaa/logs", "GET"), ("POST", "/health", "GET"), ("HEAD", "/jobs/feed", "GET"),
])
async def test_a_method_an_endpoint_does_not_take_is_a_405_with_allow(gw, token_for, method, path, allowed):
    async with aiohttp.ClientSession() as session:
        async with session.request(method, GATEWAY + path, headers={"Authorization": f"token {token_for('alice')}"},
                                   data=None if method == "HEAD" else b"{}") as resp:
            assert resp.status == 405 and resp.headers["Allow"] == allowed, (method, path, dict(resp.headers))
            if method != "HEAD":
                assert (await resp.json())["status"] == 405


async def test_a_job_whose_anchor_vanished_still_answers(gw, token_for, admin_api, sandbox):
    """A failover move (or a cancel) deletes a job's script ConfigMap while the index still shows
    it: GETs at that moment answer with what is known (200, spec null) or 404, never a 5xx.
    The gateway is paused meanwhile, so the GETs meet the index from before the deletion."""
    alice = token_for("alice")
    job = await gw.submit(alice, {"kind": "job", "name": "anchorless", "script": SLEEP, "cluster": "onprem"})
    await gw.wait(alice, job["id"], phases=("Running",), timeout=120)
    anchor = next(n for n in await leftovers(admin_api, "onprem", sandbox.namespace, job["id"])
                  if n.startswith("ConfigMap/"))
    pid = int(PID_FILE.read_text())
    os.kill(pid, signal.SIGSTOP)  # the gateway's index cannot hear of the deletion before the GETs
    try:
        async with admin_api("onprem") as api:
            await kube.delete(api, kube.CONFIGMAPS, sandbox.namespace, anchor.split("/", 1)[1])
        asked = asyncio.gather(*(gw.call("GET", f"/jobs/{job['id']}", alice) for _ in range(20)))
        await asyncio.sleep(0.5)
    finally:
        os.kill(pid, signal.SIGCONT)
    answers = await asked
    assert all(status in (200, 404) for status, _ in answers), [a for a in answers if a[0] not in (200, 404)]
    status, answer = await gw.call("GET", f"/jobs/{job['id']}", alice)
    assert status == 200 and answer["job"]["spec"] is None and answer["job"]["phase"] == "Running", answer
    await gw.cancel(alice, job["id"])
    assert await gone(admin_api, "onprem", sandbox.namespace, job["id"]) == []


async def test_the_store_reads_a_vanished_anchor_as_none(sandbox, admin_api):
    """What a GET meets when the anchor went after the job was found: None (the job is looked up
    again, or shown without its spec), not a member cluster's 404 turned into a 502."""
    async with direct_spawner_config(sandbox) as config:
        registry = ClusterRegistry(Federation(config=config))
        await registry.start()
        try:
            await registry.wait_ready(30)
            await until_healthy(registry, "onprem")
            store = JobStore(registry, BackendDiscovery(registry.api))
            made = await Submitter(registry, store.discovery, Gateway()).submit(
                "alice", frozenset(), {"kind": "job", "script": SLEEP, "cluster": "onprem"})
            job = await store.get(made.job_id)
            try:
                assert (await store.anchor(job))["data"]
                async with admin_api("onprem") as api:
                    await kube.delete(api, kube.CONFIGMAPS, sandbox.namespace, job.anchor["metadata"]["name"])
                assert await store.anchor(job) is None
            finally:
                await delete_job(store, await store.get(made.job_id), timeout=60)
        finally:
            await registry.stop()
