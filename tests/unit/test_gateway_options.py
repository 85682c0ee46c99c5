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
from fedspawner.jobs.limits import Limits
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
    assert (by_name["nodes"]["minimum"], by_name["nodes"]["maximum"]) == (1, Limits().nodes)
    assert by_name["executors"]["kinds"] == ["spark"] and by_name["retries"]["kinds"] == ["job"]
    assert "spark" not in by_name["nodes"]["kinds"]
    assert by_name["image"]["default"]["pytorch"].startswith("pytorch/")
    assert schema["max_script_bytes"] == checks.MAX_SCRIPT_BYTES
    assert render_schema(["onprem", "burst"], GPU_TYPES)["version"] == schema["version"]
    assert render_schema(["onprem"], GPU_TYPES)["version"] != schema["version"]


@pytest.mark.parametrize("name, good, bad", [
    ("name", "resnet-ddp-2", "Resnet_DDP"),
    ("image", "pytorch/pytorch:2.5", "pytorch; rm -rf /"),
    ("image", "registry.example.org:5000/a/b:v1", "pytorch/pytorch:x/../../evil"),
    ("packages", "pandas[parquet]>=2.1", "-e ."),
    ("packages", "numpy>=1.26,<2", "numpy --config-settings=x"),
    ("packages", "torch==2.5.1+cpu", "mylib @ https://example.org/mylib.whl"),
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
    reserved = set(option("env").constraints["reserved_prefixes"])
    assert {"KUBERNETES_", "JUPYTERHUB_", "FEDSPAWNER_", "SPARK_"} <= reserved
    conf = option("conf").constraints
    assert "spark.default.parallelism" in conf["allowed_keys"] and "spark.sql." in conf["allowed_prefixes"]
    assert not any(k.startswith("spark.kubernetes.") for k in conf["allowed_keys"] + conf["allowed_prefixes"])


def _conf_allowed_by_schema(key: str) -> bool:
    conf = option("conf").constraints
    return key in conf["allowed_keys"] or any(key.startswith(p) for p in conf["allowed_prefixes"])


@pytest.mark.parametrize("key", ["spark.sql.shuffle.partitions", "spark.kubernetes.driver.secrets.s",
                                 "spark.kubernetes.executor.secretKeyRef.T", "spark.speculation",
                                 "spark.speculationx", "spark.hadoop.fs.s3a.endpoint", "spark.master",
                                 "spark.executorEnv.A", "spark.ui.showConsoleProgress", "spark.ui.port"])
def test_the_conf_allow_list_is_the_specs(key):
    """What the schema publishes as allowed is exactly what the spec accepts."""
    try:
        JobSpec.from_dict({"kind": "spark", "script": "x", "conf": {key: "1"}})
        accepted = True
    except JobSpecError:
        accepted = False
    assert accepted == _conf_allowed_by_schema(key), key


@pytest.mark.parametrize("text", ["2", "A100:4", " h100-80gb:8 ", ":1", "²", "A100:²", "1_0", "A:B:1", "A100:",
                                  "-1", "A100:٣", "4\n5"])
def test_the_gpu_string_pattern_is_the_specs(text):
    pattern = re.compile(option("gpus").constraints["string_pattern"])
    try:
        JobSpec.from_dict({"kind": "job", "script": "x", "gpus": text})
        accepted = True
    except JobSpecError:
        accepted = False
    assert accepted == bool(pattern.fullmatch(text)), text


@pytest.mark.parametrize("text", ["2", "0.5", "500m", "1500u", "2e0", "8Gi", "1.", ".5", "+1", "1 ", "1.2.3", "",
                                  "1Ki", "1ki", "-1"])
def test_the_quantity_patterns_are_the_specs(text):
    for name in ("cpu", "memory"):
        pattern = re.compile(option(name).constraints["pattern"])
        try:
            JobSpec.from_dict({"kind": "job", "script": "x", "cpu": text if name == "cpu" else "1",
                               "memory": text if name == "memory" else "1Gi"})
            accepted = True
        except JobSpecError as err:
            accepted = "not a" not in str(err)  # a well-formed quantity may still be out of range
        assert accepted == bool(pattern.fullmatch(text)), (name, text)


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


def test_the_admins_limits_are_published_as_the_options_maxima():
    limits = Limits(nodes=8, executors=4, gpus_per_node=2, cpu="16", memory="64Gi")
    schema = render_schema(["onprem"], GPU_TYPES, limits)
    by_name = {o["name"]: o for o in schema["options"]}
    assert (by_name["nodes"]["maximum"], by_name["executors"]["maximum"]) == (8, 4)
    assert (by_name["gpus"]["count_maximum"], by_name["cpu"]["maximum"], by_name["memory"]["maximum"]) == \
        (2, "16", "64Gi")
    assert schema["limits"] == {"nodes": 8, "executors": 4, "gpus_per_node": 2, "cpu": "16", "memory": "64Gi"}
    assert schema["version"] != render_schema(["onprem"], GPU_TYPES)["version"]
    default = {o["name"]: o for o in render_schema(["onprem"], GPU_TYPES)["options"]}
    assert default["nodes"]["maximum"] == Limits().nodes <= checks.MAX_NODES


def test_the_openapi_job_spec_states_the_same_limits():
    document = yaml.safe_load(OPENAPI.read_text())["components"]["schemas"]
    spec = document["JobSpec"]["properties"]
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
    assert spec["gpus"]["oneOf"][0]["pattern"] == option("gpus").constraints["string_pattern"]
    assert spec["cpu"]["oneOf"][0]["pattern"] == option("cpu").constraints["pattern"]
    assert spec["cpu"]["oneOf"][1]["maximum"] == checks.MAX_CPU_CORES
    assert spec["memory"]["pattern"] == option("memory").constraints["pattern"]
    assert spec["cluster"]["oneOf"][1]["items"]["pattern"] == option("cluster").constraints["pattern"]
    name = option("cluster").constraints["pattern"][1:-1]
    assert spec["cluster"]["oneOf"][0]["pattern"] == rf"^{name}(\s*,\s*{name})*$"
    for prefix in option("env").constraints["reserved_prefixes"]:
        assert prefix in spec["env"]["description"], prefix
    assert set(document["OptionSchema"]["properties"]["limits"]["properties"]) == set(Limits().to_dict())
    published = set(document["Option"]["properties"])
    assert {key for o in OPTIONS for key in o.constraints} <= published | {"choices_by_kind", "minimum_by_kind",
                                                                           "unit", "auto", "key_max_length"}
