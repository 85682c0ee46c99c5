"""The gateway's sandbox rules: refused requests and manifest checks (pure)."""

from __future__ import annotations

import re

import pytest
from traitlets import TraitError

from fedspawner.gateway.config import Gateway
from fedspawner.gateway.errors import BadRequest, Forbidden
from fedspawner.gateway.policy import ESCAPES, check_image, check_request, manifest_violations
from fedspawner.gateway.submit import Submitter
from fedspawner.jobs import GpuScheduling, JobSpec, JobSpecError, RenderTarget, kinds
from fedspawner.jobs.render import render

COMBOS = [(name, backend.name) for name in kinds.KINDS for backend in kinds.get(name).backends]


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


@pytest.mark.parametrize("image", ["pytorch/pytorch:x/../../evil", "pytorch/pytorch:2.5 ", "pytorch/pytorch:*",
                                   "pytorch/pytorch:2.5\n", "pytorch/pytorch:a/b", "pytorch/Pytorch:2.5"])
def test_a_glob_only_matches_image_references(image):
    """``*`` matches "/" and "..": a value that is not an image reference is refused before matching."""
    with pytest.raises(BadRequest, match="is not an image reference"):
        check_image(image, ["pytorch/pytorch:*", "*"])
    with pytest.raises(BadRequest, match="is not an image reference"):
        check_image(image, [])


@pytest.mark.parametrize("field, value, words", [
    ("nodes", 9, "at most 8 nodes (pods) per job; the job asks for 9. Ask for fewer nodes"),
    ("gpus", "3", "at most 2 GPUs per node; the job asks for 3"),
    ("cpu", "16001m", "at most 16 CPU per pod; the job asks for 16001m per pod"),
    ("memory", "65Gi", "at most 64Gi memory per pod"),
])
def test_jobs_past_the_admins_limits_are_refused_saying_the_limit(field, value, words):
    settings = Gateway(max_nodes=8, max_executors=4, max_gpus_per_node=2, max_cpu="16", max_memory="64Gi")
    submitter = Submitter(registry=None, discovery=None, settings=settings)
    with pytest.raises(Forbidden) as info:
        submitter.validate({"kind": "job", "script": "x", field: value})
    assert words in info.value.message and "c.Gateway.max_" in info.value.message
    with pytest.raises(Forbidden, match="at most 4 Spark executors per job; the job asks for 5"):
        submitter.validate({"kind": "spark", "script": "x", "executors": 5})
    spec, _, _ = submitter.validate({"kind": "job", "script": "x", "nodes": 8, "gpus": "2", "cpu": "16",
                                     "memory": "64Gi"})
    assert spec.nodes == 8  # at the limits is fine


def test_the_default_limits_refuse_a_336_node_job():
    with pytest.raises(Forbidden, match="at most 64 nodes"):
        Submitter(registry=None, discovery=None, settings=Gateway()).validate(
            {"kind": "pytorch", "script": "x", "nodes": 336})


@pytest.mark.parametrize("setting, value, words", [
    ("max_nodes", 0, "from 1 to 1000"), ("max_nodes", 1001, "from 1 to 1000"),
    ("max_gpus_per_node", 65, "from 1 to 64"), ("max_executors", True, "from 1 to 1000"),
    ("max_cpu", "lots", "max_cpu must be a CPU quantity"), ("max_cpu", "513", "max_cpu must be a CPU quantity"),
    ("max_memory", "1Gi", "at least 1536Mi"), ("max_memory", "8 Gi", "max_memory must be a memory quantity"),
])
def test_unusable_limits_stop_the_gateway_with_the_setting_named(setting, value, words):
    with pytest.raises(TraitError, match=re.escape(f"c.Gateway.{setting}")) as info:
        Gateway(**{setting: value})
    assert words in str(info.value)


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


def test_a_spark_application_may_carry_only_allowed_settings():
    spec = JobSpec.from_dict({"kind": "spark", "script": "x", "conf": {"spark.sql.shuffle.partitions": "4"}})
    target = RenderTarget(namespace="team", job_id="j-abcd2345", owner="alice", backend="sparkapplication")
    objects = render(spec, target)
    assert manifest_violations(objects, "team") == []
    objects[-1]["spec"]["sparkConf"]["spark.kubernetes.driver.secrets.hub"] = "/s"
    assert manifest_violations(objects, "team") == [
        f"SparkApplication/{spec.name}: Spark setting spark.kubernetes.driver.secrets.hub is not on the allow-list"]


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
