"""The kernel-side client across a gateway restart: the hub-managed gateway process is killed mid-job
and the hub starts it again; a followed log (blocking, as ``%fedlogs -f`` reads it, and asyncio, as the
widget does) and a job's watch go on by themselves, every line once and none lost."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time

import pytest

from fedspawner.client import Gateway
from fedspawner.gateway.config import SERVICE_NAME

from .hub_fixtures import TEST_HUB_PORT
from .test_gateway_support import PID_FILE, wait_healthy

pytestmark = pytest.mark.sandbox

TICKS = 70
SCRIPT = f"""
import time
for i in range(1, {TICKS} + 1):
    print(f"tick {{i}}", flush=True)
    time.sleep(0.5)
print("done ticking", flush=True)
"""
EXPECTED = [f"tick {i}" for i in range(1, TICKS + 1)] + ["done ticking"]


async def restart_gateway() -> float:
    """Kill the gateway process the hub started (as a crash would) and wait until the hub has started
    it again and it answers; the seconds that took."""
    began = time.monotonic()
    old = int(PID_FILE.read_text())
    os.kill(old, signal.SIGKILL)
    while True:
        assert time.monotonic() - began < 120, "the hub did not restart the gateway"
        try:
            if int(PID_FILE.read_text()) != old:
                break
        except (OSError, ValueError):
            pass
        await asyncio.sleep(0.3)
    await wait_healthy()
    return time.monotonic() - began


async def test_follows_resume_after_the_gateway_is_killed_and_restarted(gw, token_for):
    token = token_for("alice")
    job = await gw.submit(token, {"kind": "job", "name": "ticker", "script": SCRIPT, "cluster": "onprem"})
    client = Gateway(f"http://127.0.0.1:{TEST_HUB_PORT}/services/{SERVICE_NAME}/", token, timeout=10)

    blocking: list[str] = []
    reader = threading.Thread(target=lambda: blocking.extend(client.logs(job["id"], follow=True)), daemon=True)
    reader.start()

    async def read_async() -> list[str]:
        return [line async for line in client.logs(job["id"], follow=True)]

    async def watch() -> list[str]:
        return [j["phase"] async for j in client.watch(job["id"])]

    lines, phases = asyncio.create_task(read_async()), asyncio.create_task(watch())
    deadline = time.monotonic() + 180
    while len(blocking) < 3:
        assert time.monotonic() < deadline and not lines.done(), (blocking, lines)
        await asyncio.sleep(0.2)

    took = await restart_gateway()
    assert took < 90, took
    followed = await asyncio.wait_for(lines, 180)
    reader.join(180)
    assert not reader.is_alive(), "the blocking follow did not end"
    assert followed == EXPECTED, followed
    assert blocking == EXPECTED, blocking
    seen = await asyncio.wait_for(phases, 120)
    assert seen[-1] == "Succeeded" and "Running" in seen, seen
