"""The clusters feed tells of a cluster going down at once, even while that cluster's apiserver
stalls the API discovery the answer is made from (a stalled discovery used to hold the answer
for its timeout, and the health change that happened meanwhile was then missed until the
long poll's end)."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest
from traitlets.config import Config

from fedspawner.gateway.auth import Caller
from fedspawner.gateway.config import Gateway
from fedspawner.gateway.service import GatewayService

from .test_launch_form import apiserver_pid

pytestmark = [pytest.mark.sandbox, pytest.mark.timeout(120)]


async def test_a_stalled_cluster_shows_down_well_within_the_long_poll(registry, sandbox, gw, token_for):
    c = Config()
    c.Gateway.discovery_ttl = 0.0  # every answer finds its discovery stale, as after a minute in production
    service = GatewayService(registry, Gateway(config=c), auth=None)
    ada = Caller("ada")
    first = await service.clusters_feed(ada, "", 0)
    assert next(x for x in first["clusters"] if x["name"] == "regional")["healthy"]

    pid = apiserver_pid(sandbox, "regional")
    os.kill(pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        answer = await asyncio.wait_for(service.clusters_feed(ada, first["version"], 60), 60)
        took = time.monotonic() - started
    finally:
        os.kill(pid, signal.SIGCONT)
        await healthy_again(gw, token_for("ada"))
    regional = next(x for x in answer["clusters"] if x["name"] == "regional")
    assert not regional["healthy"], regional
    # health needs two failed probes (about 4 s with the defaults); a stalled discovery (10 s) must not add to it
    assert took < 8, f"the feed answered after {took:.1f} s"


async def healthy_again(gw, token: str, timeout: float = 60) -> None:
    """Wait until the hub's gateway sees ``regional`` healthy again (later tests place jobs there)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, answer = await gw.call("GET", "/clusters", token)
        if status == 200 and next(c for c in answer["clusters"] if c["name"] == "regional")["healthy"]:
            return
        await asyncio.sleep(0.5)
    raise AssertionError("regional did not come back within a minute of SIGCONT")
