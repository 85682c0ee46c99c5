"""The gateway's option schema, per-user jobs feed, origins and resubmission, over the sandbox."""

from __future__ import annotations

import asyncio
import time

import pytest

from fedspawner.jobs.limits import Limits

from .test_gateway_support import first_pod_finish

pytestmark = pytest.mark.sandbox

ORIGIN = {"path": "work/train.ipynb", "cell": "0c5e7d2a-b1"}


def row_of(feed: dict, job_id: str) -> dict | None:
    return next((row for row in feed["jobs"] if row["id"] == job_id), None)


async def feed(gw, token: str, query: str = "", timeout: float = 60) -> dict:
    status, answer = await gw.call("GET", f"/jobs/feed{query}", token, timeout=timeout)
    assert status == 200, answer
    return answer


async def feed_until(gw, token: str, test, timeout: float = 60) -> dict:
    """Long-poll the feed until ``test(answer)`` holds."""
    deadline = time.monotonic() + timeout
    answer = await feed(gw, token)
    while not test(answer):
        assert time.monotonic() < deadline, answer
        answer = await feed(gw, token, f"?since={answer['version']}&wait=5")
    return answer


async def test_the_option_schema_states_the_validation_rules(gw, token_for, sandbox):
    status, schema = await gw.call("GET", "/options", token_for("alice"))
    assert status == 200, schema
    options = {o["name"]: o for o in schema["options"]}
    assert options["kind"]["choices"] == list(schema["kinds"]) and "pytorch" in schema["kinds"]
    assert options["cluster"]["choices"] == ["auto", *sandbox.clusters]
    assert "nvidia-a100-40gb" in options["gpus"]["choices"]
    a100 = next(g for g in schema["gpu_types"] if g["name"] == "nvidia-a100-40gb")
    assert "onprem" in a100["clusters"] and a100["display"] == "NVIDIA A100 40GB"
    assert (options["nodes"]["minimum"], options["nodes"]["maximum"]) == (1, Limits().nodes)  # the default cap
    assert options["executors"]["kinds"] == ["spark"] and options["conf"]["kinds"] == ["spark"]
    assert options["gpus"]["count_maximum"] == Limits().gpus_per_node
    assert options["packages"]["flag"] == "--pip" and "RANK" in options["env"]["reserved_keys"]
    status, again = await gw.call("GET", "/options", token_for("bob"))
    assert status == 200 and again["version"] == schema["version"]
    status, answer = await gw.call("GET", "/options", None)
    assert status == 401


async def test_the_user_endpoint_names_the_caller(gw, token_for):
    status, me = await gw.call("GET", "/user", token_for("alice"))
    assert status == 200 and me["name"] == "alice" and me["admin"] is False
    status, admin = await gw.call("GET", "/user", token_for("admin"))
    assert status == 200 and admin["admin"] is True


async def test_the_feed_lists_my_job_with_its_origin_and_wakes_within_a_second(
        gw, token_for, sandbox, admin_api):
    alice, bob, admin = token_for("alice"), token_for("bob"), token_for("admin")
    script = "import time\ntime.sleep(5)\nprint('done', flush=True)\n"
    job = await gw.submit(alice, {"kind": "job", "name": "feed-me", "script": script, "cluster": "onprem",
                                  "origin": ORIGIN})
    assert job["origin"] == ORIGIN
    running = await feed_until(gw, alice, lambda f: (row_of(f, job["id"]) or {}).get("phase") == "Running")
    row = row_of(running, job["id"])
    assert row["origin"] == ORIGIN and row["owner"] == "alice" and row["cluster"] == "onprem"
    assert row["ranks"] == {"ready": 1, "total": 1} and row["kind"] == "job" and row["name"] == "feed-me"
    assert "pods" not in row and "progress" not in row
    bobs = await feed(gw, bob)
    assert row_of(bobs, job["id"]) is None
    assert row_of(await feed(gw, admin, "?all=1"), job["id"]) is not None
    status, answer = await gw.call("GET", "/jobs/feed?all=1", bob)
    assert status == 403 and "administrators" in answer["message"]

    # alice's long-poll answers within a second of the pod finishing; bob's is not woken by it
    seen: dict = {}
    watcher = asyncio.create_task(first_pod_finish(admin_api, "onprem", sandbox.namespace, job["id"], seen))
    bob_poll = asyncio.create_task(feed(gw, bob, f"?since={bobs['version']}&wait=8"))
    try:
        changed = await feed(gw, alice, f"?since={running['version']}&wait=25")
        answered = time.monotonic()
        for _ in range(50):
            if "at" in seen:
                break
            await asyncio.sleep(0.1)
    finally:
        watcher.cancel()
    assert changed["version"] != running["version"]
    assert "at" in seen, "the raw watch never saw the pod finish"
    assert answered - seen["at"] <= 1.0, f"the feed answered {answered - seen['at']:.2f}s after the pod changed"
    started = time.monotonic()
    bob_answer = await bob_poll
    assert bob_answer["version"] == bobs["version"] and row_of(bob_answer, job["id"]) is None
    assert time.monotonic() - started > 0.5  # still waiting when alice's answer came: not woken by her job
    done = await feed_until(gw, alice, lambda f: (row_of(f, job["id"]) or {}).get("phase") == "Succeeded")
    assert row_of(done, job["id"])["finished"]
    assert row_of(await feed(gw, alice, "?state=succeeded"), job["id"]) is not None
    assert row_of(await feed(gw, alice, "?state=running"), job["id"]) is None


async def test_an_unchanged_feed_answers_after_the_wait_with_the_same_version(gw, token_for):
    carol = token_for("carol")
    first = await feed(gw, carol)
    started = time.monotonic()
    again = await feed(gw, carol, f"?since={first['version']}&wait=1.5")
    assert 1.4 <= time.monotonic() - started < 5 and again["version"] == first["version"]
    assert (await feed(gw, carol, "?since=stale&wait=10"))["version"] == first["version"]  # at once


async def test_a_job_shows_its_spec_for_resubmission_and_leaves_the_feed_when_cancelled(gw, token_for):
    alice = token_for("alice")
    spec = {"kind": "job", "name": "again", "script": "import time\ntime.sleep(60)\n",
            "cluster": ["onprem", "regional"], "env": {"A": "1"}, "origin": {"path": "a.ipynb"}}
    job = await gw.submit(alice, spec)
    detail = await gw.job(alice, job["id"])
    resubmit = detail["spec"]
    assert resubmit["script"] == spec["script"] and resubmit["cluster"] == ["onprem", "regional"]
    assert resubmit["env"] == {"A": "1"} and resubmit["origin"] == {"path": "a.ipynb", "cell": None}
    assert resubmit["name"] == "again" and resubmit["kind"] == "job"
    second = await gw.submit(alice, resubmit)
    assert second["id"] != job["id"] and second["origin"] == {"path": "a.ipynb", "cell": None}
    listed = await feed_until(gw, alice, lambda f: row_of(f, second["id"]) is not None)
    await gw.cancel(alice, job["id"])
    gone = await feed(gw, alice, f"?since={listed['version']}&wait=20")
    gone = await feed_until(gw, alice, lambda f: row_of(f, job["id"]) is None, timeout=30) \
        if row_of(gone, job["id"]) else gone
    assert row_of(gone, second["id"]) is not None


@pytest.mark.parametrize("query, words", [
    ("?since=x&wait=soon", "'wait' must be a number of seconds"),
    ("?since=x&wait=-1", "from 0 to"),
    ("?state=sleeping", "Unknown state 'sleeping'"),
    ("?all=maybe", "'all' must be 1 or 0"),
])
async def test_bad_feed_queries_are_refused(gw, token_for, query, words):
    status, answer = await gw.call("GET", f"/jobs/feed{query}", token_for("alice"))
    assert status == 400 and words in answer["message"], answer


async def test_a_bad_origin_is_refused_and_nothing_is_created(gw, token_for):
    status, answer = await gw.call("POST", "/jobs", token_for("alice"),
                                   {"kind": "job", "script": "x", "origin": {"path": "/etc/passwd"}})
    assert status == 400 and "relative to the server's root" in answer["message"], answer
