"""The magics' arguments and the submission body, checked before any request is sent."""

from __future__ import annotations

import pytest

from fedspawner.client.args import HelpShown, parse_job_ref, parse_jobs, parse_logs, parse_submit
from fedspawner.client.errors import ArgumentsError, GatewayRequestError
from fedspawner.client.options import submission_body


def body(line: str, script: str = "print('hi')") -> dict:
    args = parse_submit(line)
    return submission_body(args.kind, script, **args.options)


def error(line: str, script: str = "print('hi')") -> str:
    with pytest.raises(GatewayRequestError) as info:
        body(line, script)
    message = info.value.message
    assert "\n" not in message and "Traceback" not in message and info.value.status is None
    return message


def test_full_submit_line():
    args = parse_submit("pytorch -n ddp --cluster onprem,regional --gpus nvidia-a100-40gb:4 --nodes 2 "
                        "--image pytorch/pytorch:2 --pip numpy 'pandas>=2' --env A=1 'MSG=hello world' B= "
                        "--cpu 2 --memory 8Gi --timeout 600 --detach")
    assert args.kind == "pytorch" and args.detach
    assert args.options == {
        "name": "ddp", "cluster": "onprem,regional", "gpus": "nvidia-a100-40gb:4", "nodes": 2,
        "image": "pytorch/pytorch:2", "packages": ["numpy", "pandas>=2"],
        "env": {"A": "1", "MSG": "hello world", "B": ""}, "cpu": "2", "memory": "8Gi", "timeout": 600}


def test_repeated_list_options_extend():
    args = parse_submit("spark --conf spark.a=1 --executors 3 --conf spark.b=x=y --pip a --pip b")
    assert args.options == {"conf": {"spark.a": "1", "spark.b": "x=y"}, "executors": 3,
                            "packages": ["a", "b"]}


def test_body_is_what_the_gateway_expects():
    assert body("pytorch -n ddp --nodes 2 --gpus nvidia-a100-40gb:4 --cluster onprem,regional") == {
        "kind": "pytorch", "script": "print('hi')", "name": "ddp", "nodes": 2,
        "gpus": {"type": "nvidia-a100-40gb", "count": 4}, "cluster": ["onprem", "regional"]}
    # defaults are left to the gateway; cluster defaults to auto
    assert body("job") == {"kind": "job", "script": "print('hi')", "cluster": "auto"}
    assert body("job --gpus 2")["gpus"] == {"type": None, "count": 2}


@pytest.mark.parametrize("line, fragment", [
    ("pytorh", "Unknown kind of job 'pytorh'. Did you mean 'pytorch'?"),
    ("job --env A", "--env takes KEY=VALUE pairs"),
    ("job --env =1", "no key right before the '='"),
    ("spark --conf spark.sql.x", "--conf takes KEY=VALUE pairs"),
    ("job --env 'BAD NAME=1'", "not a usable environment variable name"),
    ("job --env RANK=3", "set by fedspawner"),
    ("job --gpus A100:x", "--gpus takes TYPE:N"),
    ("job --gpus A100:-1", "'A100:-1' is neither"),
    ("job --gpus 'bad type:1'", "--gpus takes TYPE:N"),
    ("pytorch --gpus :1", "':1' is neither"),  # the API's pattern refuses it: so does the magic
    ("pytorch --gpus ²", "'²' is neither"),
    ("pytorch --gpus A100:1_0", "'A100:1_0' is neither"),
    ("job --nodes -1", "--nodes must be a whole number from 1 to 1000, not '-1'; write it in digits 0-9"),
    ("job --nodes 0", "--nodes must be a whole number from 1 to 1000"),
    ("job --nodes 1001", "--nodes must be a whole number from 1 to 1000"),
    ("job --nodes two", "not 'two'"),
    ("job --nodes 1_0", "not '1_0'"),  # int() reads it as 10
    ("job --nodes ٣", "not '٣'"),  # int() reads it as 3
    ("job --timeout ²", "not '²'"),
    ("spark --executors -3", "--executors must be a whole number from 1 to 1000"),
    ("job --retries -1", "--retries must be a whole number from 0 to 10"),
    ("job --cluster 'On Prem'", "'On Prem' is not a cluster name"),
    ("job --cluster auto,onprem", "\"auto\" can't be part of a list"),
    ("job --cluster a,a", "names a twice"),
    ("job -n Bad_Name", "can't be used"),
    ("spark --nodes 2", "Spark jobs scale with executors"),
    ("pytorch --executors 2", "executors only apply to Spark jobs"),
    ("job --bogus", "%%fedsubmit: unrecognized arguments: --bogus. Usage: %%fedsubmit KIND"),
    ("", "the following arguments are required: KIND"),
    ("job 'open", "close every quote"),
])
def test_bad_arguments_are_one_paragraph(line, fragment):
    assert fragment in error(line)


def test_empty_cell_is_refused():
    assert "The job has no script" in error("job", "   \n")


def test_help_is_shown_not_an_error(capsys):
    with pytest.raises(HelpShown):
        parse_submit("--help")
    assert "--cluster" in capsys.readouterr().out


def test_help_lists_the_clusters_and_gpu_types_the_gateway_publishes(capsys):
    schema = {"clusters": ["onprem", "burst"],
              "gpu_types": [{"name": "nvidia-a100-40gb", "display": "NVIDIA A100 40GB", "clusters": ["onprem"]}],
              "limits": {"nodes": 8, "executors": 4, "gpus_per_node": 2, "cpu": "16", "memory": "64Gi"}}
    asked = []
    parse_submit("job -n x", schema=lambda: asked.append(1) or schema)
    assert asked == []  # only --help asks the gateway
    with pytest.raises(HelpShown):
        parse_submit("job --help", schema=lambda: schema)
    out = " ".join(capsys.readouterr().out.split())
    assert "--cluster takes auto, onprem, burst" in out and "nvidia-a100-40gb (NVIDIA A100 40GB: onprem)" in out
    assert "at most: --nodes 8, --executors 4, --gpus N 2, --cpu 16, --memory 64Gi" in out
    with pytest.raises(HelpShown):
        parse_submit("--help", schema=lambda: None)  # the gateway could not be asked: the plain help
    assert "--pip PKG" in capsys.readouterr().out


@pytest.mark.parametrize("cluster, sent", [
    (None, "auto"), ("auto", "auto"), (" onprem ", "onprem"), (["onprem"], "onprem"),
    (["onprem", "burst"], ["onprem", "burst"]), ("onprem, burst", ["onprem", "burst"]),
    (iter(["burst", "onprem"]), ["burst", "onprem"]),
])
def test_cluster_field(cluster, sent):
    assert submission_body("job", "x", cluster=cluster)["cluster"] == sent


@pytest.mark.parametrize("cluster, fragment", [
    ([], "it is empty"), ("onprem,,burst", "empty name"), ("onprem,auto", "can't be part of a list"),
    ("onprem,onprem", "names onprem twice"), ("On Prem", "is not a cluster name"), (3, "not int"),
])
def test_cluster_field_refused_before_sending(cluster, fragment):
    with pytest.raises(GatewayRequestError, match=fragment):
        submission_body("job", "x", cluster=cluster)


def test_submit_from_python_validates_the_same_way():
    from fedspawner.client import Gateway

    gateway = Gateway("http://127.0.0.1:9/", "token")  # never contacted: validation fails first
    with pytest.raises(GatewayRequestError, match="Unknown field 'gpu'"):
        gateway.submit_call("pytorch", "x", gpu="A100:1")
    with pytest.raises(GatewayRequestError, match="nodes must be between 1 and 1000"):
        gateway.submit_call("pytorch", "x", nodes=-2)


def test_logs_jobs_and_job_refs():
    assert parse_logs("j-abcdefgh -f --rank 1 --tail 20") == parse_logs("--tail 20 -f j-abcdefgh --rank 1")
    logs = parse_logs("ddp")
    assert (logs.job, logs.follow, logs.rank, logs.tail) == ("ddp", False, 0, None)
    with pytest.raises(ArgumentsError, match="--rank must be a whole number of at least 0, not '-1'"):
        parse_logs("ddp --rank -1")
    with pytest.raises(ArgumentsError, match="--tail must be a whole number of at least 1"):
        parse_logs("ddp --tail 0")
    assert parse_jobs("--all --state running") == parse_jobs("--state running --all")
    with pytest.raises(ArgumentsError, match="invalid choice"):
        parse_jobs("--state sleeping")
    assert parse_job_ref("%fedcancel", "j-abcdefgh", "") == "j-abcdefgh"
    with pytest.raises(ArgumentsError, match="required: JOB"):
        parse_job_ref("%fedcancel", "", "")
