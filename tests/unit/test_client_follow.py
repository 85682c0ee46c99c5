"""``JobWidget`` following a job on the running event loop, against the scripted gateway."""

from __future__ import annotations

import asyncio
import time

import pytest

from fedspawner.client import Gateway
from fedspawner.client.widget import JobWidget, live_widgets
from tests.unit.client_stub import TOKEN, StubGateway, make_job, pods

JOB = "j-aaaaaaaa"


@pytest.fixture
def stub():
    with StubGateway() as server:
        server.add(make_job(JOB))
        yield server


@pytest.fixture
async def widget(stub):
    w = JobWidget(make_job(JOB), Gateway(stub.url, TOKEN, timeout=5))
    w.follow()
    yield w
    w.close()


async def until(predicate, timeout: float = 5.0) -> float:
    """Wait on the loop until ``predicate()``; returns the seconds it took."""
    began = time.monotonic()
    while not predicate():
        if time.monotonic() - began > timeout:
            raise AssertionError("timed out")
        await asyncio.sleep(0.005)
    return time.monotonic() - began


async def test_traits_follow_the_phases_within_a_second(stub, widget):
    await until(lambda: widget.following)
    stub.set(JOB, phase="Running", started="2025-01-01T00:00:00Z", pods=pods("Running", "Running"))
    assert await until(lambda: widget.phase == "Running") < 1.0
    assert [row["phase"] for row in widget.ranks] == ["Running", "Running"]
    stub.log(JOB, "epoch 1", "epoch 2")
    assert await until(lambda: widget.log_tail == "epoch 1\nepoch 2") < 1.0
    stub.set(JOB, progress={"step": 3, "total": 10, "metrics": {"loss": 0.5}})
    assert await until(lambda: widget.progress and widget.progress["step"] == 3) < 1.0
    stub.log(JOB, "done")
    stub.set(JOB, phase="Succeeded", finished="2025-01-01T00:01:00Z", pods=pods("Succeeded", "Succeeded"))
    assert await until(lambda: widget.phase == "Succeeded") < 1.0
    await until(lambda: not widget.following)
    assert widget.phase_history == ["Pending", "Running", "Succeeded"]
    assert widget.log_tail.endswith("done") and widget.elapsed == 60 and widget.cancel_button.disabled
    assert widget.status == "" and stub.seen("DELETE", ".") == []


async def test_reconnects_after_the_gateway_drops_the_stream(stub, widget):
    stub.set(JOB, phase="Running", pods=pods("Running"))
    stub.log(JOB, "a", "b")
    await until(lambda: widget.log_tail == "a\nb")
    watches = len(stub.seen("GET", "/watch$"))
    stub.drop_streams()  # a gateway restart
    await until(lambda: len(stub.seen("GET", "/watch$")) > watches)
    stub.log(JOB, "c")
    stub.set(JOB, message="still running")
    await until(lambda: widget.message == "still running" and widget.log_tail.endswith("c"))
    assert widget.log_tail == "a\nb\nc"  # the new log stream's tail replaced the old lines, no duplicates
    assert widget.following


async def test_failover_restarts_the_log_on_the_new_cluster(stub, widget):
    stub.set(JOB, phase="Running", pods=pods("Running"))
    stub.log(JOB, "on onprem")
    await until(lambda: widget.log_tail == "on onprem")
    logs_before = len(stub.seen("GET", "/logs$"))
    stub.set(JOB, cluster="regional", history=["onprem: FailedScheduling — failed over to regional"],
             pods=[dict(pods("Running")[0], name="ddp-new-0")])
    await until(lambda: widget.cluster == "regional")
    await until(lambda: len(stub.seen("GET", "/logs$")) > logs_before)
    assert "failed over to regional" in widget._message.value


async def test_a_job_that_disappears_shows_as_cancelled(stub, widget):
    stub.set(JOB, phase="Running", pods=pods("Running"))
    await until(lambda: widget.phase == "Running")
    watches = len(stub.seen("GET", "/watch$"))
    stub.remove(JOB)  # e.g. cancelled from another kernel: nothing in this kernel knows
    await until(lambda: widget.phase == "Cancelled")
    await until(lambda: not widget.following)
    assert len(stub.seen("GET", "/watch$")) > watches  # the follower asked again and got the 404
    assert "no longer exists on its cluster" in widget.message
    assert stub.seen("DELETE", ".") == []


async def test_cancel_button_needs_a_second_click(stub, widget):
    await until(lambda: widget.following)
    widget.cancel_button.click()
    assert widget.cancel_button.description == "Click again to cancel"
    await asyncio.sleep(0.1)
    assert stub.seen("DELETE", ".") == [] and widget.phase == "Pending"
    widget.cancel_button.click()
    await until(lambda: widget.phase == "Cancelled")
    assert len(stub.seen("DELETE", JOB)) == 1
    await until(lambda: not widget.following)
    assert widget.cancel_button.disabled and widget.cancel_button.description == "Cancel job"


async def test_stopping_never_cancels_the_job(stub, widget):
    stub.set(JOB, phase="Running", pods=pods("Running"))
    await until(lambda: widget.phase == "Running")
    widget.stop("interrupted")
    await until(lambda: not widget.following)
    assert "the job itself is untouched" in widget.status and "%fedattach j-aaaaaaaa" in widget.status
    stub.set(JOB, phase="Succeeded")
    await asyncio.sleep(0.3)
    assert widget.phase == "Running" and stub.seen("DELETE", ".") == []
    widget.follow()  # following again picks up the current state
    await until(lambda: widget.phase == "Succeeded")


async def test_cancel_from_elsewhere_updates_every_widget_of_the_job(stub, widget):
    other = JobWidget(make_job(JOB), Gateway(stub.url, TOKEN))
    assert {id(w) for w in live_widgets(JOB)} >= {id(widget), id(other)}
    await Gateway(stub.url, TOKEN).acancel(JOB)
    assert widget.phase == other.phase == "Cancelled"
    other.close()
    assert other not in live_widgets(JOB)


async def test_attaching_to_a_finished_job_shows_its_last_log_lines(stub):
    stub.set(JOB, phase="Failed", message="rank 1 failed: exit code 1", pods=pods("Succeeded", "Failed"))
    stub.log(JOB, *[f"line {i}" for i in range(300)])
    w = Gateway(stub.url, TOKEN).attach(JOB).widget
    await until(lambda: not w.following and w.log_tail)
    assert w.phase == "Failed" and w.message == "rank 1 failed: exit code 1"
    assert len(w.log_tail.splitlines()) == 200 and w.log_tail.endswith("line 299")
    assert stub.seen("GET", "/logs$")[-1]["query"] == {"rank": "0", "tail": "200"}  # no follow
    w.close()


def test_widget_without_an_event_loop_says_so():
    w = JobWidget(make_job(JOB), Gateway("http://127.0.0.1:9/", TOKEN))
    w.follow()
    assert "no running event loop" in w.status and not w.following
    w.close()
