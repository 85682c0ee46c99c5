"""A gang that stays unschedulable fails over to the next cluster of the user's list.

``regional`` shows placement no node capacity (its credential sees only the namespace),
so a 2-pod gang of 48 CPUs / 300 GiB each is a candidate there; but only one of its
nodes is that big, so one pod stays Pending (FailedScheduling). The gateway moves the
job to ``onprem`` (three such nodes), records the move, and leaves nothing on regional.
"""

from __future__ import annotations

import asyncio

import pytest

from .test_gateway_support import first_line_with, gone, leftovers

pytestmark = pytest.mark.sandbox

# Each pod holds its node's room for a while, so the gang really competes for space.
SCRIPT = "import os, time\nprint('rank', os.environ['FEDSPAWNER_RANK'], 'ran', flush=True)\ntime.sleep({})\n"


async def test_unschedulable_gang_fails_over_to_the_next_cluster(gw, token_for, admin_api,
                                                                 sandbox):
    carol = token_for("carol")
    job = await gw.submit(carol, {"kind": "job", "name": "big-gang", "script": SCRIPT.format(15), "nodes": 2,
                                  "cpu": "48", "memory": "300Gi", "cluster": ["regional", "onprem"]})
    assert job["cluster"] == "regional" and job["history"] == []
    done = await gw.wait(carol, job["id"], timeout=180)
    assert done["phase"] == "Succeeded", done
    assert done["cluster"] == "onprem"
    assert len(done["history"]) == 1
    note = done["history"][0]
    assert note.startswith("regional: ") and note.endswith("failed over to onprem"), note
    assert "cpu" in note or "memory" in note, note
    assert await leftovers(admin_api, "regional", sandbox.namespace, job["id"]) == []
    for rank in (0, 1):
        log = await gw.text(f"/jobs/{job['id']}/logs?rank={rank}", carol)
        assert first_line_with(log, f"rank {rank} ran"), log
    await gw.cancel(carol, job["id"])
    assert await gone(admin_api, "onprem", sandbox.namespace, job["id"]) == []


async def test_a_job_with_nowhere_else_to_go_stays_and_says_why(gw, token_for):
    carol = token_for("carol")
    job = await gw.submit(carol, {"kind": "job", "name": "stuck", "script": SCRIPT.format(120), "nodes": 2,
                                  "cpu": "48", "memory": "300Gi", "cluster": "regional"})
    for _ in range(60):
        pending = await gw.job(carol, job["id"])
        if "Unschedulable" in pending["message"]:
            break
        await asyncio.sleep(0.5)
    assert pending["phase"] == "Pending" and pending["cluster"] == "regional"
    assert pending["message"].startswith("rank 1 on regional: Unschedulable: "), pending["message"]
    assert "Insufficient" in pending["message"]
    await gw.cancel(carol, job["id"])
