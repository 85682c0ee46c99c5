"""The gateway's REST API through the hub: authorisation, refusals, clusters, OpenAPI, replicas."""

from __future__ import annotations

import json

import aiohttp
import pytest

from .test_gateway_support import Gateway, GatewayReplica

pytestmark = pytest.mark.sandbox

SLEEP = "import time\ntime.sleep(120)\n"


@pytest.fixture(scope="module")
async def alices_job(gateway_up, token_for):
    """A running job of alice's, cancelled at the end of the module."""
    async with aiohttp.ClientSession() as session:
        gw = Gateway(session)
        try:
            yield await gw.submit(token_for("alice"), {"kind": "job", "name": "private", "script": SLEEP,
                                                       "cluster": "onprem"})
        finally:
            await gw.cleanup()


async def test_a_user_sees_and_acts_on_their_own_jobs_only(gw, token_for, alices_job):
    alice, bob, admin = token_for("alice"), token_for("bob"), token_for("admin")
    job_id = alices_job["id"]
    status, mine = await gw.call("GET", "/jobs", alice)
    assert status == 200 and job_id in [j["id"] for j in mine["jobs"]]
    status, theirs = await gw.call("GET", "/jobs", bob)
    assert status == 200 and all(j["owner"] == "bob" for j in theirs["jobs"])
    assert job_id not in [j["id"] for j in theirs["jobs"]]
    for method, path in (("GET", f"/jobs/{job_id}"), ("GET", f"/jobs/{job_id}/logs"),
                         ("GET", f"/jobs/{job_id}/logs?follow=1"), ("GET", f"/jobs/{job_id}/watch"),
                         ("DELETE", f"/jobs/{job_id}")):
        status, answer = await gw.call(method, path, bob)
        assert status == 403, (method, path, answer)
        assert "another user" in answer["message"]
    status, answer = await gw.call("GET", "/jobs?all=1", bob)
    assert status == 403 and "administrators" in answer["message"]
    status, everything = await gw.call("GET", "/jobs?all=1", admin)
    assert status == 200 and job_id in [j["id"] for j in everything["jobs"]]
    status, seen = await gw.call("GET", f"/jobs/{job_id}", admin)
    assert status == 200 and seen["job"]["owner"] == "alice"
    assert (await gw.job(alice, job_id))["phase"] in ("Pending", "Running")


async def test_requests_without_a_valid_token_are_refused(gw):
    status, answer = await gw.call("GET", "/jobs", None)
    assert status == 401 and "token" in answer["message"]
    status, answer = await gw.call("GET", "/jobs", "not-a-real-token")
    assert status == 401 and "did not accept" in answer["message"]


BAD_SPECS = [
    ({"kind": "pytorchx", "script": "x"}, 400, "Did you mean 'pytorch'"),
    ({"kind": "pytorch", "script": "x", "gpus": "warp-drive-9000:1"}, 400, "Unknown GPU type"),
    ({"kind": "pytorch", "script": "x", "gpus": "A100:1"}, 400, "ambiguous"),
    ({"kind": "pytorch", "script": "x", "cluster": "mars"}, 400, "Unknown cluster 'mars'"),
    ({"kind": "pytorch", "script": "x", "cluster": ["onprem", "pluto"]}, 400, "Unknown cluster 'pluto'"),
    ({"kind": "pytorch", "script": "x", "nodes": 4, "gpus": "nvidia-a100-40gb:4"}, 422,
     "The largest that fits now is 1 node(s) × 4 NVIDIA A100 40GB on onprem"),
    ({"kind": "pytorch", "script": "x", "gpus": "nvidia-h100-80gb:16"}, 422,
     "the largest NVIDIA H100 80GB node you can use has 8 (burst)"),
    ({"kind": "pytorch", "script": "#" * (1024 * 1024)}, 400, "over the 900 KiB limit"),
    ({"kind": "pytorch", "script": "x", "privileged": True}, 403, "Privileged containers"),
    ({"kind": "pytorch", "script": "x", "hostPath": "/etc"}, 403, "host paths"),
    ({"kind": "pytorch", "script": "x", "hostNetwork": True}, 403, "host's network"),
    ({"kind": "pytorch", "script": "x", "namespace": "kube-system"}, 403, "cannot choose its namespace"),
    ({"kind": "pytorch", "script": "x", "nodeName": "a100-0"}, 403, "decided by placement"),
    ({"kind": "pytorch", "script": "x", "cpu": "lots"}, 400, "not a CPU quantity"),
    ({"kind": "pytorch", "script": "x", "env": {"FEDSPAWNER_JOB_ID": "x"}}, 400, "set by fedspawner"),
    ({"kind": "tensorflow", "script": "x", "cluster": "onprem"}, 400, "was removed"),
    ({"kind": "mpi", "script": "x", "image": "mpi:1"}, 400, "MPI operator"),
    ({"kind": "pytorch", "script": "x", "colour": "blue"}, 400, "Unknown field 'colour'"),
    ([1, 2, 3], 400, "JSON object"),
]


@pytest.mark.parametrize("spec, status, words", BAD_SPECS)
async def test_bad_submissions_get_a_clear_4xx(gw, token_for, spec, status, words):
    got, answer = await gw.call("POST", "/jobs", token_for("alice"), spec)
    assert got == status, answer
    assert answer["status"] == status and words in answer["message"], answer["message"]
    assert "Traceback" not in answer["message"]


async def test_nothing_a_user_sends_causes_a_500(gw, token_for):
    alice = token_for("alice")
    bodies = [b"", b"{", b"null", b"\xff\xfe", b'"text"', b"42", b'{"kind": null}', b'{"kind": ["pytorch"]}',
              b'{"kind": "pytorch", "script": 5}', b'{"kind": "job", "script": "x", "nodes": -1}',
              b'{"kind": "job", "script": "x", "nodes": 1e309}',
              b'{"kind": "job", "script": "x", "gpus": {"type": 5, "count": "x"}}',
              b'{"kind": "job", "script": "x", "cluster": {"a": 1}}',
              b'{"kind": "job", "script": "x", "cluster": []}', b'{"kind": "job", "script": "x", "env": [1]}',
              b'{"kind": "spark", "script": "x", "conf": {"x": 1}}',
              b'{"kind": "job", "script": "x", "timeout": true}', b'{"kind": "job", "script": "\\ud800"}',
              b'{"kind": "job", "script": "x", "cpu": "1.2.3"}', b'{"kind": "job", "script": "x", "cpu": "."}',
              b'{"kind": "job", "script": "x", "cluster": ["onprem", "onprem"]}',
              b'{"kind": "job", "script": "x", "cluster": "onprem,auto"}']
    for body in bodies:
        status, answer = await gw.call("POST", "/jobs", alice, raw=body)
        assert 400 <= status < 500, (body, status, answer)
        assert isinstance(answer, dict) and answer["message"], (body, answer)
    # Quantities a job spec and placement both read (1500u is 1.5 millicores): accepted, never a 500.
    status, answer = await gw.call("POST", "/jobs", alice, {"kind": "job", "script": "x", "cpu": "1500u"})
    assert status == 201, answer
    gw.submitted.append((alice, answer["job"]["id"]))
    for path in ("/jobs/j-aaaaaaaa", "/jobs/nonsense", "/jobs/../../etc", "/jobs?state=bogus",
                 "/jobs?all=maybe", "/nowhere", "/jobs/j-aaaaaaaa/logs?rank=-1",
                 "/jobs/j-aaaaaaaa/logs?tail=x"):
        status, answer = await gw.call("GET", path, alice)
        assert 400 <= status < 500, (path, status, answer)
        assert isinstance(answer, dict) and answer["message"], (path, answer)
    status, answer = await gw.call("PUT", "/jobs", alice, {})
    assert status == 405 and answer["status"] == 405
    huge = json.dumps({"kind": "job", "script": "x" * (5 * 2**20)}).encode()  # over the 4 MiB limit
    status, answer = await gw.call("POST", "/jobs", alice, raw=huge)
    assert status == 413 and "at most 4,194,304" in answer["message"], answer


async def test_logs_refuse_a_rank_or_container_the_job_does_not_have(gw, token_for, alices_job):
    alice = token_for("alice")
    status, answer = await gw.call("GET", f"/jobs/{alices_job['id']}/logs?rank=3", alice)
    assert status == 400 and "no rank 3" in answer["message"]
    await gw.wait(alice, alices_job["id"], phases=("Running",), timeout=120)
    status, answer = await gw.call("GET", f"/jobs/{alices_job['id']}/logs?container=sidecar", alice)
    assert status == 400 and "no container 'sidecar'" in answer["message"]


async def test_clusters_show_health_backends_and_gpus(gw, token_for):
    status, answer = await gw.call("GET", "/clusters", token_for("alice"))
    assert status == 200
    clusters = {c["name"]: c for c in answer["clusters"]}
    assert set(clusters) == {"onprem", "regional", "burst"}
    onprem = clusters["onprem"]
    assert onprem["healthy"] and {"trainjob", "indexed-job", "spark-standalone"} <= set(onprem["backends"])
    assert "trainjob" not in clusters["burst"]["backends"]  # burst runs no operator: Indexed Jobs there
    assert onprem["reason"] == ""
    a100 = next(g for g in onprem["gpus"] if g["type"] == "nvidia-a100-40gb")
    assert a100["total"] == 8 and a100["max_per_node"] == 4 and a100["free"] <= 6  # the quota allows 6
    assert a100["best_known_free"] == a100["free"]
    assert any(g["type"] == "nvidia-h100-80gb" for g in clusters["burst"]["gpus"])
    assert all(c["usable"] for c in clusters.values())  # the demo's clusters are open to everyone


async def test_openapi_document_is_served(gw):
    status, doc = await gw.call("GET", "/openapi.json", None)
    assert status == 200 and doc["openapi"].startswith("3.")
    assert {"/jobs", "/jobs/{id}", "/jobs/{id}/logs", "/jobs/{id}/watch", "/clusters"} <= set(doc["paths"])
    assert doc["servers"][0]["url"] == "/services/fedspawner-gateway/api/v1"


@pytest.fixture
async def second_gateway(tmp_path, sandbox, gateway_up):
    """Another gateway process (a second replica) with an image allow-list, unmanaged by the hub."""
    replica = GatewayReplica(tmp_path, sandbox.state_dir,
                             "c.Gateway.allowed_images = ['pytorch/pytorch:*', 'python:3.11-slim']\n")
    try:
        await replica.start()
        yield replica.url
    finally:
        replica.stop()


async def test_a_second_replica_sees_the_same_jobs_and_enforces_its_allow_list(
        second_gateway, token_for, alices_job):
    alice = token_for("alice")
    async with aiohttp.ClientSession() as session:
        replica = Gateway(session, second_gateway)
        status, listing = await replica.call("GET", "/jobs", alice)
        assert status == 200 and alices_job["id"] in [j["id"] for j in listing["jobs"]]
        status, answer = await replica.call("POST", "/jobs", alice, {"kind": "job", "script": "x",
                                                                     "image": "evil/miner:latest"})
        assert status == 403 and "pytorch/pytorch:*" in answer["message"]
        assert "evil/miner" in answer["message"]
        status, answer = await replica.call("POST", "/jobs", alice, {"kind": "spark", "script": "x"})
        assert status == 403 and "spark:3.5.3-python3" in answer["message"]  # the default image too
        status, answer = await replica.call("GET", f"/jobs/{alices_job['id']}", token_for("bob"))
        assert status == 403
