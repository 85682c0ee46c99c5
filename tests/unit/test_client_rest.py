"""``Gateway`` against a scripted stand-in of the REST API: requests, answers, streams, errors."""

from __future__ import annotations

import asyncio
import json
import socket
import threading

import pytest

from fedspawner.client import Gateway, GatewayRequestError
from fedspawner.client.streams import watch_line
from fedspawner.client.transport import LineSplitter, Request, error_for, send, stream
from tests.unit.client_stub import TOKEN, StubGateway, make_job, pods


@pytest.fixture
def stub():
    with StubGateway() as server:
        yield server


@pytest.fixture
def gateway(stub):
    return Gateway(stub.url, TOKEN, timeout=5)


def test_submit_sends_the_validated_body_with_the_token(stub, gateway):
    job = gateway.submit("pytorch", "print(1)", name="ddp", nodes=2, gpus="nvidia-l4:1",
                         cluster=["regional", "onprem"], env={"A": "1"})
    (request,) = stub.seen("POST", r"/jobs$")
    assert request["auth"] == f"token {TOKEN}"
    assert request["path"] == "/services/fedspawner-gateway/api/v1/jobs"
    assert request["body"] == {"kind": "pytorch", "script": "print(1)", "name": "ddp", "nodes": 2,
                               "gpus": {"type": "nvidia-l4", "count": 1}, "env": {"A": "1"},
                               "cluster": ["regional", "onprem"]}
    assert job.id.startswith("j-") and job.name == "ddp" and job.phase == "Pending" and not job.done
    assert repr(job) == f"<Job {job.id} 'ddp' (pytorch) on onprem: Pending>"


def test_invalid_submission_sends_nothing(stub, gateway):
    with pytest.raises(GatewayRequestError, match="Unknown kind"):
        gateway.submit("tensorfow", "x")
    assert stub.requests == []


def test_list_get_refresh_cancel(stub, gateway):
    stub.add(make_job("j-aaaaaaaa", phase="Running"))
    stub.add(make_job("j-bbbbbbbb", name="etl", phase="Succeeded"))
    assert [job.id for job in gateway.jobs()] == ["j-bbbbbbbb", "j-aaaaaaaa"]
    assert [job.id for job in gateway.jobs(state="running")] == ["j-aaaaaaaa"]
    gateway.jobs(all=True)
    assert stub.requests[-1]["query"] == {"all": "1"}
    job = gateway.job("j-aaaaaaaa")
    stub.set("j-aaaaaaaa", phase="Succeeded")
    assert job.refresh().phase == "Succeeded" and job.done
    assert gateway.cancel("j-bbbbbbbb").phase == "Cancelled"
    assert gateway.clusters() == [{"name": "onprem", "healthy": True}]
    with pytest.raises(GatewayRequestError, match="not a job id"):
        gateway.job("../../hub/api")


def test_gateway_messages_reach_the_user_as_they_are(stub, gateway):
    message = ("No member cluster can run 4 nodes × 8 nvidia-h100-80gb: the largest possible is 1 × 8 on "
               "burst.")
    stub.fail_next("POST", "/jobs", 422, {"status": 422, "message": message})
    with pytest.raises(GatewayRequestError) as info:
        gateway.submit("pytorch", "x", nodes=4, gpus="nvidia-h100-80gb:8")
    assert (info.value.message, info.value.status) == (message, 422)
    with pytest.raises(GatewayRequestError) as info:
        gateway.job("j-zzzzzzzz")
    assert info.value.status == 404 and "No job" in info.value.message
    with pytest.raises(GatewayRequestError, match="JupyterHub did not accept this token") as info:
        Gateway(stub.url, "wrong").jobs()
    assert info.value.status == 401
    with pytest.raises(GatewayRequestError, match="No JupyterHub token was sent") as info:
        Gateway(stub.url, "").jobs()
    assert info.value.status == 401


@pytest.mark.parametrize("status, body, fragment", [
    (404, b"<html><h1>404 : Not Found</h1></html>", "Check that the hub runs the fedspawner-gateway service"),
    (502, b"", "not answering right now (HTTP 502)"),
    (500, b'{"status": 500, "message": "boom."}', "failed (HTTP 500): boom. This is an outage"),
    (401, b"", "refused this kernel's token"),
    (418, b"teapot", "answered HTTP 418"),
])
def test_answers_that_are_not_the_gateways_own(status, body, fragment):
    err = error_for(status, body, "http://hub/services/fedspawner-gateway/api/v1/jobs")
    assert fragment in err.message and err.status == status and "\n" not in err.message


def test_unreachable_and_non_json(stub):
    with pytest.raises(GatewayRequestError, match="Can't reach the fedspawner gateway") as info:
        Gateway("http://127.0.0.1:9/", TOKEN, timeout=2).jobs()
    assert info.value.status is None
    stub.fail_next("GET", "/jobs", 200, b"<html>login page</html>", "text/html")
    with pytest.raises(GatewayRequestError, match="not JSON"):
        Gateway(stub.url, TOKEN).jobs()


def test_logs_blocking_with_tail_and_rank(stub, gateway):
    stub.add(make_job("j-aaaaaaaa", phase="Running"))
    stub.log("j-aaaaaaaa", *[f"l{i}" for i in range(5)])
    assert list(gateway.logs("j-aaaaaaaa", tail=2)) == ["l3", "l4"]
    assert stub.requests[-1]["query"] == {"rank": "0", "tail": "2"}
    with pytest.raises(GatewayRequestError, match="no rank 7") as info:
        list(gateway.logs("j-aaaaaaaa", rank=7))
    assert info.value.status == 400
    with pytest.raises(GatewayRequestError, match="tail must be"):
        gateway.logs("j-aaaaaaaa", tail=0)


def test_silent_streams_count_as_dead_and_followed_logs_resume(gateway):
    # a quiet script and a proxy holding a dead stream look alike: the follow reconnects and goes on
    assert gateway.logs("j-aaaaaaaa", follow=True).request_for(None, True).timeout == 30
    assert gateway.logs("j-aaaaaaaa").request.timeout == 5
    assert gateway.watch("j-aaaaaaaa").request.timeout == 45  # heartbeats every 15 s


def test_logs_follow_blocking_until_the_job_ends(stub, gateway):
    stub.add(make_job("j-aaaaaaaa", phase="Running"))
    stub.log("j-aaaaaaaa", "first")

    def later():
        stub.log("j-aaaaaaaa", "second")
        stub.set("j-aaaaaaaa", phase="Succeeded")

    timer = threading.Timer(0.2, later)
    timer.start()
    assert list(gateway.logs("j-aaaaaaaa", follow=True)) == ["first", "second"]


async def test_watch_and_logs_async(stub, gateway):
    stub.add(make_job("j-aaaaaaaa"))
    seen = []

    async def drive():
        await asyncio.sleep(0.1)
        stub.set("j-aaaaaaaa", phase="Running", pods=pods("Running"))
        stub.log("j-aaaaaaaa", "hello")
        await asyncio.sleep(0.1)
        stub.set("j-aaaaaaaa", phase="Succeeded", pods=pods("Succeeded"))

    driver = asyncio.create_task(drive())
    async for job in gateway.watch("j-aaaaaaaa"):
        seen.append(job["phase"])
    await driver
    assert seen == ["Pending", "Running", "Succeeded"]
    assert [line async for line in gateway.logs("j-aaaaaaaa", tail=10)] == ["hello"]
    assert (await gateway.ajob("j-aaaaaaaa")).phase == "Succeeded"
    with pytest.raises(GatewayRequestError) as info:
        await gateway.ajob("j-zzzzzzzz")
    assert info.value.status == 404
    assert (await gateway.acancel("j-aaaaaaaa")).phase == "Cancelled"


def test_watch_stream_heartbeats_are_skipped(stub, gateway):
    stub.heartbeat = 0.05
    stub.add(make_job("j-aaaaaaaa"))
    threading.Timer(0.3, lambda: stub.set("j-aaaaaaaa", phase="Failed", message="rank 1 failed")).start()
    assert [job["phase"] for job in gateway.watch("j-aaaaaaaa")] == ["Pending", "Failed"]


def test_watch_line_decoding():
    assert watch_line('{"heartbeat": true}') is None and watch_line("  ") is None
    assert watch_line(json.dumps({"job": {"id": "j-x"}})) == {"id": "j-x"}
    with pytest.raises(GatewayRequestError, match="gone") as info:
        watch_line('{"status": 410, "message": "gone"}')
    assert info.value.status == 410
    with pytest.raises(GatewayRequestError, match="not JSON"):
        watch_line("<html>")


def test_line_splitter_reassembles_chunks():
    splitter = LineSplitter()
    text = '{"job": {"name": "träning"}}\r\nsecond\nthird'.encode()
    lines = []
    for i in range(len(text)):  # one byte at a time: split characters and CRLF included
        lines += splitter.feed(text[i:i + 1])
    assert lines + splitter.close() == ['{"job": {"name": "träning"}}', "second", "third"]
    long = "x" * 300_000
    assert LineSplitter().feed(long.encode() + b"\n") == [long]


@pytest.fixture
def aborted_chunked_answer():
    """A server that starts a chunked 200 answer, sends one line and hangs up in the middle of a chunk."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve():
        for _ in range(2):
            conn, _ = server.accept()
            with conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n"
                             b"Transfer-Encoding: chunked\r\n\r\n"
                             b"e\r\n{\"job\": {}}\n\r\n" b"40\r\n{\"jo")  # 64 bytes announced, 4 sent

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/"
    server.close()


def test_aborted_chunked_stream_is_a_gateway_error(aborted_chunked_answer):
    """http.client reports a cut chunked answer as IncompleteRead (not an OSError): still one paragraph."""
    request = Request("GET", aborted_chunked_answer, timeout=5)
    with pytest.raises(GatewayRequestError, match="Can't reach the fedspawner gateway") as info:
        send(request)
    assert info.value.status is None and "IncompleteRead" in info.value.message
    chunks = []
    with pytest.raises(GatewayRequestError, match="the stream broke off"):
        for chunk in stream(request):
            chunks.append(chunk)
    assert b"".join(chunks).startswith(b'{"job": {}}\n')
