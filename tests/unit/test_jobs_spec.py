"""Unit tests for the job model: ``JobSpec``, ``GpuRequest``, ``generate_name``."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest

from fedspawner.federation.quantity import parse_quantity as federation_quantity
from fedspawner.jobs import GpuRequest, JobSpec, JobSpecError, generate_name
from fedspawner.jobs.spec import DEFAULT_IMAGES, KINDS, MAX_SCRIPT_BYTES
from fedspawner.jobs.validation import human_bytes, owner_label_value, parse_quantity


def spec(**fields):
    """A spec from a dict, with a fixed name unless one is given."""
    data = {"kind": "pytorch", "name": "train", "script": "print('hi')"}
    data.update(fields)
    return JobSpec.from_dict({key: value for key, value in data.items() if value is not ...})


def error(**fields) -> JobSpecError:
    with pytest.raises(JobSpecError) as info:
        spec(**fields)
    message = str(info.value)
    assert "\n" not in message and "Traceback" not in message  # one paragraph
    return info.value


# -- defaults and round trips -------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_defaults_per_kind(kind):
    job = spec(kind=kind)
    assert job.image == DEFAULT_IMAGES[kind]
    assert (job.cpu, job.memory, job.nodes, job.language) == ("1", "2Gi", 1, "python")
    assert job.gpus == GpuRequest(None, 0)
    assert job.executors == (2 if kind == "spark" else None)
    assert (dict(job.env), job.packages, dict(job.conf), job.retries, job.timeout) == ({}, (), {}, 0, None)


def test_default_images_are_the_documented_ones():
    assert spec(kind="pytorch").image == "pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime"
    assert spec(kind="spark").image == "spark:3.5.3-python3"
    assert spec(kind="job").image == "python:3.11-slim"
    assert spec(kind="pytorch", gpus="1").image == "pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime"


def test_mpi_is_not_advertised_and_refused_clearly():
    assert "mpi" not in KINDS
    with pytest.raises(JobSpecError, match="MPI jobs are not supported.*kind 'pytorch'"):
        spec(kind="mpi", image="me/mpi:1")
    with pytest.raises(JobSpecError, match="MPI jobs are not supported"):
        JobSpec.from_dict({"kind": "mpi", "script": "x"})


def full_spec() -> JobSpec:
    return spec(nodes=2, gpus={"type": "A100", "count": 4}, cpu="8", memory="32Gi", env={"LR": "0.1"},
                packages=["numpy", "pandas>=2"], timeout=3600, image="me/train:1")


def test_to_dict_round_trips_and_is_json():
    job = full_spec()
    data = job.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert JobSpec.from_dict(data) == job
    assert data["gpus"] == {"type": "A100", "count": 4}
    assert data["packages"] == ["numpy", "pandas>=2"]
    assert set(data) == {f.name for f in dataclasses.fields(JobSpec)}


def test_spark_round_trip():
    job = spec(kind="spark", executors=4, conf={"spark.sql.shuffle.partitions": "8"}, memory="4Gi")
    assert JobSpec.from_dict(job.to_dict()) == job


def test_from_dict_is_deterministic_with_a_name_and_equal_specs_hash_equal():
    assert spec() == spec()
    assert hash(full_spec()) == hash(full_spec())
    assert {spec(), spec()} == {spec()}


def test_missing_name_is_generated_from_the_kind():
    names = {JobSpec.from_dict({"kind": "spark", "script": "x"}).name for _ in range(5)}
    assert all(re.fullmatch(r"spark-[a-z0-9]{6}", name) for name in names)
    assert len(names) > 1


def test_generate_name():
    assert generate_name("pytorch", token="abc123") == "pytorch-abc123"
    assert re.fullmatch(r"spark-[a-z0-9]{6}", generate_name("spark"))
    with pytest.raises(JobSpecError):
        generate_name("pytorch", token="UPPER")


def test_spec_is_frozen_and_its_mappings_read_only():
    job = full_spec()
    with pytest.raises(dataclasses.FrozenInstanceError):
        job.nodes = 3
    with pytest.raises(TypeError):
        job.env["X"] = "y"


def test_direct_construction_validates_and_fills_defaults():
    job = JobSpec(kind="job", name="plain", script="echo hi", language="bash")
    assert (job.image, job.script_filename) == ("python:3.11-slim", "main.sh")
    with pytest.raises(JobSpecError):
        JobSpec(kind="job", name="plain", script="  ")
    with pytest.raises(JobSpecError):
        dataclasses.replace(job, nodes=0)


def test_from_dict_does_not_keep_references_to_input():
    env = {"A": "1"}
    job = spec(env=env)
    env["B"] = "2"
    assert dict(job.env) == {"A": "1"}


# -- structure of the input ---------------------------------------------------------------------


def test_unknown_field_suggests_the_right_one():
    err = error(gpu=1)
    assert err.field == "gpu" and "Did you mean 'gpus'?" in str(err) and "executors" in str(err)


@pytest.mark.parametrize("data", [["kind"], "pytorch", None])
def test_non_mapping_input(data):
    with pytest.raises(JobSpecError, match="must be an object"):
        JobSpec.from_dict(data)


@pytest.mark.parametrize("missing", ["kind", "script"])
def test_missing_required_fields(missing):
    data = {"kind": "job", "script": "print(1)"}
    del data[missing]
    with pytest.raises(JobSpecError, match=f"no '{missing}'") as info:
        JobSpec.from_dict(data)
    assert info.value.field == missing


def test_none_means_default():
    job = spec(image=None, cpu=None, memory=None, env=None, packages=None, gpus=None, timeout=None)
    assert job == spec()


def test_unknown_kind():
    err = error(kind="pytorh")
    assert err.field == "kind" and "Did you mean 'pytorch'?" in str(err) and "spark" in str(err)


# -- field by field -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Train", "1train", "train-", "tr_ain", "a" * 41, "", "tr.ain"])
def test_bad_names(name):
    err = error(name=name)
    assert err.field == "name" and "40" in str(err) and "starting with a letter" in str(err)


@pytest.mark.parametrize("name", ["a", "resnet-ddp-2", "a" * 40])
def test_good_names(name):
    assert spec(name=name).name == name


@pytest.mark.parametrize("script", ["", "   \n", None, 42])
def test_empty_or_missing_script(script):
    with pytest.raises(JobSpecError) as info:
        JobSpec(kind="job", name="x", script=script)
    assert info.value.field == "script"


def test_script_size_limit():
    assert len(spec(script="#" * MAX_SCRIPT_BYTES).script) == MAX_SCRIPT_BYTES
    err = error(script="#" * (MAX_SCRIPT_BYTES + 1))
    message = str(err)
    assert err.field == "script" and "900 KiB" in message and f"{MAX_SCRIPT_BYTES + 1:,} bytes" in message
    assert "ConfigMap" in message and "image" in message and "package" in message


def test_script_size_counts_utf8_bytes():
    err = error(script="é" * (MAX_SCRIPT_BYTES // 2 + 1))  # two bytes each
    assert "900 KiB" in str(err)


def test_script_with_lone_surrogates():
    assert "UTF-8" in str(error(script="print('\udc80')"))


def test_languages():
    assert spec(kind="job", language="bash").script_filename == "main.sh"
    assert spec(kind="job").script_filename == "main.py"
    assert "kind 'job'" in str(error(language="bash"))
    assert "Unknown script language" in str(error(kind="job", language="ruby"))


@pytest.mark.parametrize("image", [
    "my image", "img;rm -rf /", "$(x)", "", "-img", 5,
    "pytorch/pytorch:x/../../evil", "pytorch/pytorch:2.5/../../evil", "../evil:1", "a//b", "a/b/", "/a",
    "Pytorch/Pytorch:1", "a:b:c", "a/b:", "a@sha256:abc", "a:" + "t" * 129, "pytorch/pytorch:2.5\n",
    "a..b:1", "a/-b:1", "a:-1", "a" * 256 + ":1",
])
def test_bad_images(image):
    err = error(image=image)
    assert err.field == "image" and "[registry[:port]/]repository[:tag][@sha256:digest]" in str(err)


@pytest.mark.parametrize("image", [
    "registry.example.org:5000/team/train@sha256:" + "a" * 64, "pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime",
    "python:3.11-slim", "localhost:5000/a__b/c-d.e:V_1", "Registry.Example.ORG/team/x",
    "ghcr.io/org/app:1.0@sha256:" + "0" * 64, "a" * 255 + ":" + "t" * 128,
])
def test_good_image_references(image):
    assert spec(image=image).image == image


@pytest.mark.parametrize("nodes", [0, -1, 1001, True, "2", 2.0])
def test_bad_nodes(nodes):
    assert error(nodes=nodes).field == "nodes"


def test_spark_scales_with_executors_not_nodes():
    err = error(kind="spark", nodes=3)
    assert "executors=3" in str(err)
    assert spec(kind="spark", executors=5).executors == 5
    assert error(kind="spark", executors=0).field == "executors"
    assert "only apply to Spark" in str(error(kind="pytorch", executors=2))


@pytest.mark.parametrize("value, expected", [
    (None, GpuRequest(None, 0)),
    ("A100:4", GpuRequest("A100", 4)),
    ("4", GpuRequest(None, 4)),
    ("H100-80GB:8", GpuRequest("H100-80GB", 8)),
    ({"type": "A100", "count": 2}, GpuRequest("A100", 2)),
    ({"type": "A100"}, GpuRequest("A100", 1)),
    ({"count": 2}, GpuRequest(None, 2)),
    (GpuRequest("L4", 1), GpuRequest("L4", 1)),
])
def test_gpu_requests(value, expected):
    assert spec(gpus=value).gpus == expected


@pytest.mark.parametrize("value, fragment", [
    ("A100", "TYPE:COUNT"),
    ("A100:x", "TYPE:COUNT"),
    (":1", "TYPE:COUNT"),  # the API's pattern refuses it, so the spec does too
    ("²", "TYPE:COUNT"),  # str.isdigit() is true for it, int() fails
    ("A100:²", "TYPE:COUNT"),
    ("1_0", "TYPE:COUNT"),  # int() reads it as 10
    ("A100:٣", "TYPE:COUNT"),  # int() reads it as 3
    ("A:B:1", "TYPE:COUNT"),
    ({"type": "A100", "count": 0}, "0 GPUs"),
    ({"type": "A 100", "count": 1}, "not a GPU type name"),
    ({"type": "A100", "count": 65}, "between 0 and 64"),
    ({"type": "A100", "count": -1}, "between 0 and 64"),
    ({"type": "A100", "count": 1, "memory": "80Gi"}, "Unknown key 'memory'"),
    (4, "not int"),
])
def test_bad_gpu_requests(value, fragment):
    err = error(gpus=value)
    assert err.field == "gpus" and fragment in str(err)


@pytest.mark.parametrize("cpu, expected", [(2, "2"), (0.5, "0.5"), (2.0, "2"), ("500m", "500m"),
                                           ("1.5", "1.5"), ("2e0", "2e0")])
def test_cpu_quantities(cpu, expected):
    assert spec(cpu=cpu).cpu == expected


@pytest.mark.parametrize("cpu, fragment", [("abc", "not a CPU quantity"), ("0", "less than one millicore"),
                                           ("-1", "not a CPU quantity"), ("1000", "did you mean '1000m'"),
                                           (True, "not a CPU quantity"), ("1 ", "not a CPU quantity")])
def test_bad_cpu(cpu, fragment):
    err = error(cpu=cpu)
    assert err.field == "cpu" and fragment in str(err)


@pytest.mark.parametrize("memory", ["64Mi", "8Gi", "1.5Gi", "3G", "1e9"])
def test_memory_quantities(memory):
    assert spec(memory=memory).memory == memory


@pytest.mark.parametrize("memory, kind, fragment", [
    ("2", "pytorch", "did you mean '2Gi'"), ("abc", "job", "with a unit"), (8, "job", "with a unit"),
    ("1Gi", "spark", "1536Mi for Spark"), ("10Mi", "job", "at least 64Mi"),
])
def test_bad_memory(memory, kind, fragment):
    err = error(memory=memory, kind=kind)
    assert err.field == "memory" and fragment in str(err)


def test_env_is_kept_in_order():
    env = spec(env={"B": "1", "A": "2", "_X9": ""}).env
    assert list(env.items()) == [("B", "1"), ("A", "2"), ("_X9", "")]


@pytest.mark.parametrize("env, fragment", [
    ({"1X": "a"}, "not a usable environment variable name"),
    ({"A-B": "a"}, "not a usable environment variable name"),
    ({"A": 1}, "must be a string"),
    ({"RANK": "1"}, "set by fedspawner"),
    ({"MASTER_ADDR": "x"}, "set by fedspawner"),
    ({"FEDSPAWNER_JOB_ID": "x"}, "set by fedspawner"),
    ({"PET_NNODES": "3"}, "names starting with PET_ are torchrun's"),
    ({"PYTHONUSERBASE": "/x"}, "set by fedspawner"),
    ({"SPARK_LOCAL_IP": "1.2.3.4"}, "names starting with SPARK_"),
    ({"SPARK_SUBMIT_OPTS": "-Dspark.kubernetes.executor.secrets.x=/x"}, "names starting with SPARK_"),
    ({"JAVA_TOOL_OPTIONS": "-Dspark.kubernetes.driver.secrets.x=/x"}, "JVM options"),
    ({"KUBERNETES_SERVICE_HOST": "10.0.0.1"}, "names starting with KUBERNETES_ are Kubernetes'"),
    ({"JUPYTERHUB_API_TOKEN": "x"}, "names starting with JUPYTERHUB_ are JupyterHub's"),
    ({"JPY_API_TOKEN": "x"}, "names starting with JPY_"),
    ({"FEDSPAWNER_RANK": "0"}, "names starting with FEDSPAWNER_ are set by fedspawner"),
    ({"TF_CONFIG": "{}"}, "set by fedspawner"),
    ({"A\n": "x"}, "not a usable environment variable name"),
    ({"A": "x\x00y"}, "NUL"),
    ({f"V{i}": "x" for i in range(101)}, "at most 100"),
    ({"BIG": "x" * (32 * 1024 + 1)}, "at most 32,768"),
    (["A=1"], "names to string values"),
])
def test_bad_env(env, fragment):
    err = error(env=env)
    assert err.field == "env" and fragment in str(err)


@pytest.mark.parametrize("package", ["numpy", "pandas[parquet]>=2.1", "numpy<2", "torch==2.5.1+cpu",
                                     "scipy>=1.10,<2", "requests~=2.31", "a.b-c_d [x, y] >= 1.0.*",
                                     "pkg===1!2.0rc1"])
def test_good_packages(package):
    assert spec(packages=[package]).packages == (package,)


@pytest.mark.parametrize("package, fragment", [
    ("--index-url=https://evil", "pip options"), ("-e .", "pip options"), ("-r /etc/passwd", "pip options"),
    ("mylib @ https://example.org/mylib-1.0-py3-none-any.whl", "from a URL or a path"),
    ("git+https://github.com/org/repo", "from a URL or a path"), ("./local", "from a URL or a path"),
    ("/tmp/pkg.whl", "from a URL or a path"), ("file:///etc", "from a URL or a path"),
    ("numpy --config-settings=x", "pip options after a requirement"),
    ("numpy==1 --hash=sha256:0", "pip options after a requirement"),
    ("numpy; python_version<'3'", "environment markers"), ("numpy; rm -rf /", "environment markers"),
    ("$(curl x)", "NAME[EXTRAS]"), ("a`id`", "NAME[EXTRAS]"), ("x\ny", "NAME[EXTRAS]"), ("a|b", "NAME[EXTRAS]"),
    ("'numpy'", "NAME[EXTRAS]"), ("", "NAME[EXTRAS]"), ("numpy\n", "NAME[EXTRAS]"),
    ("x" * 201, "longer than 200"), (5, "not a string"),
])
def test_bad_packages(package, fragment):
    err = error(packages=[package])
    assert err.field == "packages" and fragment in str(err) and "PIP_INDEX_URL" in str(err)


def test_packages_must_be_a_list():
    assert "list of pip requirement strings" in str(error(packages="numpy"))
    assert "more than 100" in str(error(packages=[f"p{i}" for i in range(101)]))


def test_spark_conf():
    conf = {"spark.sql.shuffle.partitions": "8", "spark.sql.adaptive.enabled": "true",
            "spark.default.parallelism": "16", "spark.hadoop.fs.s3a.endpoint": "https://s3.example.org",
            "spark.speculation": "true", "spark.speculation.multiplier": "2", "spark.kryo.registrator": "a.B"}
    assert dict(spec(kind="spark", conf=conf).conf) == conf


@pytest.mark.parametrize("key, fragment", [
    ("sql.shuffle.partitions", "start with 'spark.'"),
    ("spark.", "start with 'spark.'"),
    ("spark.a b", "start with 'spark.'"),
    ("spark.master", "fedspawner sets it"),
    ("spark.submit.deployMode", "fedspawner sets it"),
    ("spark.driver.host", "fedspawner sets it"),
    ("spark.ui.port", "fedspawner sets it"),
    ("spark.kubernetes.namespace", "shapes the job's pods"),
    ("spark.kubernetes.container.image", "shapes the job's pods"),
    ("spark.kubernetes.driver.secrets.hub-secret", "shapes the job's pods"),
    ("spark.kubernetes.executor.secrets.hub-secret", "shapes the job's pods"),
    ("spark.kubernetes.driver.secretKeyRef.TOKEN", "shapes the job's pods"),
    ("spark.kubernetes.executor.secretKeyRef.TOKEN", "shapes the job's pods"),
    ("spark.kubernetes.authenticate.driver.serviceAccountName", "shapes the job's pods"),
    ("spark.kubernetes.driver.volumes.hostPath.root.mount.path", "shapes the job's pods"),
    ("spark.kubernetes.executor.volumes.persistentVolumeClaim.d.options.claimName", "shapes the job's pods"),
    ("spark.kubernetes.node.selector.zone", "shapes the job's pods"),
    ("spark.kubernetes.driver.podTemplateFile", "shapes the job's pods"),
    ("spark.kubernetes.executor.podNamePrefix", "shapes the job's pods"),
    ("spark.kubernetes.executor.label.fedspawner", "shapes the job's pods"),
    ("spark.kubernetes.file.upload.path", "shapes the job's pods"),
    ("spark.executorEnv.FEDSPAWNER_RANK", "set them with env"),
    ("spark.kubernetes.driverEnv.KUBERNETES_SERVICE_HOST", "set them with env"),
    ("spark.executor.memory", "cpu, memory and executors"),
    ("spark.executor.instances", "cpu, memory and executors"),
    ("spark.cores.max", "cpu, memory and executors"),
    ("spark.dynamicAllocation.maxExecutors", "cpu, memory and executors"),
    ("spark.memory.offHeap.size", "cpu, memory and executors"),
    ("spark.driver.extraJavaOptions", "what the JVMs load"),
    ("spark.jars.packages", "what the JVMs load"),
    ("spark.files", "what the JVMs load"),
    ("spark.eventLog.dir", "not one of the settings a job may set"),
    ("spark.sqlx.a", "not one of the settings a job may set"),
    ("spark.speculationx", "not one of the settings a job may set"),
    ("spark.hadoop.yarn.resourcemanager.address", "not one of the settings a job may set"),
])
def test_bad_spark_conf_keys(key, fragment):
    err = error(kind="spark", conf={key: "x"})
    assert err.field == "conf" and fragment in str(err)
    if key.startswith("spark.") and " " not in key and key != "spark.":
        assert "spark.sql.*" in str(err) and "GET options" in str(err)  # what may be set instead


@pytest.mark.parametrize("value, fragment", [(8, "must be a string"), ("a\nb", "single line"),
                                             ("x" * 4097, "single line")])
def test_bad_spark_conf_values(value, fragment):
    assert fragment in str(error(kind="spark", conf={"spark.sql.shuffle.partitions": value}))


def test_conf_is_spark_only():
    assert "only applies to Spark" in str(error(conf={"spark.a": "b"}))


def test_retries_only_for_plain_jobs():
    assert spec(kind="job", retries=3).retries == 3
    err = error(kind="pytorch", retries=1)
    assert err.field == "retries" and "can't rejoin" in str(err)
    assert error(kind="job", retries=11).field == "retries"


@pytest.mark.parametrize("timeout", [0, -5, "60", 31 * 24 * 3600])
def test_bad_timeouts(timeout):
    assert error(timeout=timeout).field == "timeout"


def test_error_is_a_value_error_with_a_message():
    err = error(nodes=0)
    assert isinstance(err, ValueError) and err.message == str(err)


# -- helpers the model relies on ----------------------------------------------------------------


def test_parse_quantity():
    assert parse_quantity("500m") == parse_quantity("0.5")
    assert parse_quantity("1Ki") == 1024
    assert parse_quantity("2Gi") == 2 * 2**30
    assert parse_quantity("1e3") == 1000
    assert parse_quantity("1.5k") == 1500
    assert parse_quantity("1500u") == parse_quantity("1.5m") and parse_quantity("+1") == 1
    for bad in ("", ".", "1.2.3", "Gi", "1 Gi", " 1", "1gi", "-1", "-0.5m", None, 3):
        assert parse_quantity(bad) is None


def test_job_specs_and_placement_read_quantities_alike():
    for text in ("1500u", "250m", "0.5", "1e3", "3Gi", "1.5k"):
        assert parse_quantity(text) == federation_quantity(text)


def test_human_bytes():
    assert human_bytes(MAX_SCRIPT_BYTES) == "900 KiB"
    assert human_bytes(1258291) == "1.2 MiB"
    assert human_bytes(12) == "12 bytes"


@pytest.mark.parametrize("owner", ["alice", "a.b_c-d", "x" * 63])
def test_owner_label_keeps_safe_names(owner):
    assert owner_label_value(owner) == owner


@pytest.mark.parametrize("owner", ["Alice", "alice@example.org", "ünïcode", "-x-", "x" * 64, "@@@", "a b"])
def test_owner_label_makes_any_name_safe(owner):
    value = owner_label_value(owner)
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9_.]{0,61}[a-z0-9])?", value)
    assert value != owner


def test_owner_labels_never_collide_after_replacement():
    assert len({owner_label_value(o) for o in ("a@b", "a-b", "a#b", "A-b")}) == 4
