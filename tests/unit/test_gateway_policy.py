"""The gateway's sandbox rules: refused requests and manifest checks (pure)."""

from __future__ import annotations

import re

import pytest

from fedspawner.gateway.config import Gateway
from fedspawner.gateway.errors import BadRequest, Forbidden
from fedspawner.gateway.policy import ESCAPES, check_image, check_request, manifest_violations
from fedspawner.gateway.submit import Submitter
from fedspawner.jobs import GpuScheduling, JobSpec, JobSpecError, RenderTarget
from fedspawner.jobs.render import render

COMBOS = [("pytorch", "indexed-job"), ("pytorch", "trainjob"), ("pytorch", "pytorchjob"),
          ("job", "indexed-job"), ("tensorflow", "tfjob"), ("spark", "sparkapplication"),
          ("spark", "spark-standalone")]


@pytest.mark.parametrize("key", sorted(ESCAPES))
def test_every_escape_is_refused_with_its_reason(key):
    with pytest.raises(Forbidden) as info:
        check_request({"kind": "job", "script": "x", key: True})
    assert f"'{key}'" in info.value.message and ESCAPES[key] in info.value.message
    assert info.value.status == 403


def test_another_namespace_is_refused():
    with pytest.raises(Forbidden, match="cannot choose its namespace.*kube-system"):
        check_request({"kind": "job", "script": "x", "namespace": "kube-system"})
    check_request({"kind": "job", "script": "x", "env": {"hostPath": "fine as a value"}})


def test_image_allow_list():
    check_image("anything/at:all", [])
    check_image("pytorch/pytorch:2.5.1", ["pytorch/pytorch:*"])
    with pytest.raises(Forbidden) as info:
        check_image("evil/miner:1", ["pytorch/pytorch:*", "spark:*"])
    assert "evil/miner:1" in info.value.message and "pytorch/pytorch:*, spark:*" in info.value.message


@pytest.mark.parametrize("kind, backend", COMBOS)
def test_rendered_manifests_keep_the_rules(kind, backend):
    gpu = GpuScheduling(resource="nvidia.com/gpu",
                        tolerations=({"key": "nvidia.com/gpu", "operator": "Exists"},))
    spec = JobSpec.from_dict({"kind": kind, "script": "x", "gpus": "2", "packages": ["numpy"]})
    target = RenderTarget(namespace="team", job_id="j-abcd2345", owner="alice", backend=backend, gpu=gpu)
    assert manifest_violations(render(spec, target), "team") == []


def test_manifest_violations_are_found_anywhere():
    bad = {"kind": "Job", "metadata": {"name": "x", "namespace": "other"}, "spec": {"template": {"spec": {
        "hostNetwork": True,
        "containers": [{"securityContext": {"privileged": True}, "ports": [{"hostPort": 80}]}],
        "volumes": [{"name": "h", "hostPath": {"path": "/"}}]}}}}
    problems = manifest_violations([bad], "team")
    assert len(problems) == 5 and any("namespace 'other'" in p for p in problems)


@pytest.mark.parametrize("body, error, words", [
    ({"kind": "mpi", "script": "x"}, JobSpecError, "MPI operator"),  # the kind first, not "no default image"
    ({"kind": "job", "script": "x", "image": "evil/miner:1"}, Forbidden, "job:*"),
    ({"kind": "job", "script": "x", "colour": "blue"}, JobSpecError, "Unknown field 'colour'"),
    ({"kind": "job", "script": "x", "cpu": "1.2.3"}, JobSpecError, "not a CPU quantity"),
    ([1], BadRequest, "JSON object"),
])
def test_requests_are_refused_before_anything_is_placed(body, error, words):
    submitter = Submitter(registry=None, discovery=None, settings=Gateway(allowed_images=["job:*"]))
    with pytest.raises(error, match=re.escape(words)):
        submitter.validate(body)
    spec, cluster, origin = submitter.validate({"kind": "job", "script": "x", "image": "job:1", "cluster": "a,b",
                                                "origin": {"path": "work/train.ipynb", "cell": "c-1"}})
    assert (spec.image, cluster, origin) == ("job:1", "a,b", {"path": "work/train.ipynb", "cell": "c-1"})


@pytest.mark.parametrize("origin, words", [
    ("train.ipynb", "must be an object"),
    ({"path": "/etc/passwd"}, "relative to the server's root"),
    ({"path": "a/../../b.ipynb"}, "without '..'"),
    ({"path": "a.ipynb", "cell": "not a cell id"}, "is not a cell id"),
    ({"path": "a.ipynb", "line": 3}, "Unknown key 'line'"),
    ({"cell": "abc"}, "has no 'path'"),
])
def test_a_malformed_origin_is_refused(origin, words):
    submitter = Submitter(registry=None, discovery=None, settings=Gateway())
    with pytest.raises(JobSpecError, match=re.escape(words)):
        submitter.validate({"kind": "job", "script": "x", "origin": origin})
