"""The option schema: declared once, from the limits the job spec's checks use, and rendered."""

from __future__ import annotations

import dataclasses
import re

import pytest
import yaml

from fedspawner.client.args import parse_submit
from fedspawner.gateway.handlers import OPENAPI
from fedspawner.jobs import checks
from fedspawner.jobs.errors import JobSpecError
from fedspawner.jobs.options import OPTIONS, TYPES, option, render_schema
from fedspawner.jobs.spec import KINDS, JobSpec

GPU_TYPES = [{"name": "nvidia-a100-40gb", "display": "NVIDIA A100 40GB", "clusters": ["onprem"]}]


def test_every_spec_field_but_the_script_is_an_option_and_nothing_else():
    fields = {f.name for f in dataclasses.fields(JobSpec)} - {"script"}
    assert {o.name for o in OPTIONS} == fields | {"cluster"}
    assert all(o.type in TYPES for o in OPTIONS)
    assert all(set(o.kinds) <= set(KINDS) for o in OPTIONS)


def test_the_rendered_schema_carries_the_federation_and_a_version():
    schema = render_schema(["onprem", "burst"], GPU_TYPES)
    by_name = {o["name"]: o for o in schema["options"]}
    assert by_name["cluster"]["choices"] == ["auto", "onprem", "burst"]
    assert by_name["gpus"]["choices"] == ["nvidia-a100-40gb"]
    assert by_name["kind"]["choices"] == list(KINDS) and by_name["kind"]["required"]
    assert (by_name["nodes"]["minimum"], by_name["nodes"]["maximum"]) == (1, checks.MAX_NODES)
    assert by_name["executors"]["kinds"] == ["spark"] and by_name["retries"]["kinds"] == ["job"]
    assert "spark" not in by_name["nodes"]["kinds"]
    assert by_name["image"]["default"]["pytorch"].startswith("pytorch/")
    assert schema["max_script_bytes"] == checks.MAX_SCRIPT_BYTES
    assert render_schema(["onprem", "burst"], GPU_TYPES)["version"] == schema["version"]
    assert render_schema(["onprem"], GPU_TYPES)["version"] != schema["version"]


@pytest.mark.parametrize("name, good, bad", [
    ("name", "resnet-ddp-2", "Resnet_DDP"),
    ("image", "pytorch/pytorch:2.5", "pytorch; rm -rf /"),
    ("packages", "pandas[parquet]>=2.1", "-e ."),
    ("env", "BATCH_SIZE", "2BAD"),
    ("conf", "spark.sql.shuffle.partitions", "sql.shuffle"),
])
def test_patterns_accept_and_refuse_what_the_spec_does(name, good, bad):
    opt = option(name)
    pattern = re.compile(opt.constraints.get("pattern") or opt.constraints.get("item_pattern")
                         or opt.constraints["key_pattern"])
    kind = "spark" if name == "conf" else "job"

    def spec(value):
        field = {"name": value, "image": value, "packages": [value], "env": {value: "1"},
                 "conf": {value: "1"}}[name]
        return JobSpec.from_dict({"kind": kind, "script": "x", name: field})

    assert pattern.match(good) and spec(good)
    assert not pattern.match(bad)
    with pytest.raises(JobSpecError):
        spec(bad)


def test_the_limits_are_the_checks_own():
    too_many = option("nodes").constraints["maximum"] + 1
    with pytest.raises(JobSpecError, match=f"between 1 and {too_many - 1}"):
        JobSpec.from_dict({"kind": "job", "script": "x", "nodes": too_many})
    gpus = option("gpus").constraints["count_maximum"]
    JobSpec.from_dict({"kind": "job", "script": "x", "gpus": {"type": None, "count": gpus}})
    with pytest.raises(JobSpecError):
        JobSpec.from_dict({"kind": "job", "script": "x", "gpus": {"type": None, "count": gpus + 1}})
    assert "RANK" in option("env").constraints["reserved_keys"]
    assert "spark.master" in option("conf").constraints["reserved_keys"]


def test_every_flag_of_fedsubmit_comes_from_the_schema():
    samples = {"integer": "3", "string": "x", "enum": None, "list": "numpy", "mapping": "K=V", "gpus": "2",
               "clusters": "onprem", "quantity": "2"}
    for opt in OPTIONS:
        if opt.flag is None:
            continue
        value = opt.constraints["choices"][0] if opt.type == "enum" else samples[opt.type]
        options = parse_submit(f"job {opt.flag} {value}").options
        assert opt.name in options, opt.name
    assert "--fedspawner-unknown" not in {o.flag for o in OPTIONS}


def test_the_openapi_job_spec_states_the_same_limits():
    spec = yaml.safe_load(OPENAPI.read_text())["components"]["schemas"]["JobSpec"]["properties"]
    assert spec["kind"]["enum"] == list(KINDS)
    for name in ("nodes", "executors", "retries", "timeout"):
        limits = option(name).constraints
        assert (spec[name]["minimum"], spec[name]["maximum"]) == (limits["minimum"], limits["maximum"]), name
    assert spec["name"]["pattern"] == option("name").constraints["pattern"]
    assert spec["name"]["maxLength"] == option("name").constraints["max_length"]
    assert spec["image"]["pattern"] == option("image").constraints["pattern"]
    assert spec["image"]["maxLength"] == option("image").constraints["max_length"]
    assert spec["gpus"]["oneOf"][1]["properties"]["count"]["maximum"] == option("gpus").constraints["count_maximum"]
    assert spec["env"]["maxProperties"] == option("env").constraints["max_items"]
    assert spec["conf"]["maxProperties"] == option("conf").constraints["max_items"]
    assert spec["packages"]["maxItems"] == option("packages").constraints["max_items"]
    assert spec["script"]["maxLength"] == checks.MAX_SCRIPT_BYTES
    assert spec["env"]["additionalProperties"]["maxLength"] == option("env").constraints["value_max_length"]
    assert spec["conf"]["additionalProperties"]["maxLength"] == option("conf").constraints["value_max_length"]
    assert spec["packages"]["items"]["pattern"] == option("packages").constraints["item_pattern"]
    assert spec["packages"]["items"]["maxLength"] == option("packages").constraints["item_max_length"]
    gpu_type = spec["gpus"]["oneOf"][1]["properties"]["type"]["pattern"]
    assert gpu_type == option("gpus").constraints["type_pattern"]
    assert spec["dataset"]["pattern"] == option("dataset").constraints["pattern"]
    assert spec["language"]["enum"] == option("language").constraints["choices"]
