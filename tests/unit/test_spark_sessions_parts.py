"""Pure parts of interactive Spark sessions: the Connect renderer, the request's checks, the idle
rules and ``%fedspark``'s command line."""

from __future__ import annotations

import json

import pytest

from fedspawner.client.errors import ArgumentsError
from fedspawner.client.spark_magic import parse_fedspark
from fedspawner.client.spark_session import session_body
from fedspawner.gateway.errors import BadRequest, Forbidden
from fedspawner.gateway.policy import manifest_violations
from fedspawner.gateway.sessions import Activity, idle_reason, new_session_id, session_spec
from fedspawner.gateway.sessions_config import Sessions
from fedspawner.jobs import JobSpec
from fedspawner.jobs.errors import JobSpecError
from fedspawner.jobs.labels import LABEL_MANAGED_BY
from fedspawner.jobs.render import RenderTarget
from fedspawner.jobs.render.spark_connect import (CONNECT_PORT, CONNECT_SERVER_CLASS, LABEL_SESSION_ID,
                                                  SESSION_MANAGED_BY, render_spark_connect)

TARGET = RenderTarget(namespace="fed", job_id="s-abcdefgh", owner="alice@example.org", backend="spark-standalone")


def rendered(**fields):
    spec = JobSpec.from_dict({"kind": "spark", "script": "#", "name": "spark-x-abcdefgh",
                              "image": "spark:4.0.1-python3", **fields})
    return render_spark_connect(spec, TARGET)


def test_a_session_is_a_configmap_a_service_a_connect_server_and_one_pod_per_executor():
    objects = rendered(executors=3)
    assert [(o["kind"], o["metadata"]["name"]) for o in objects] == [
        ("ConfigMap", "spark-x-abcdefgh-script"), ("Service", "spark-x-abcdefgh"),
        ("Pod", "spark-x-abcdefgh-driver"), ("Pod", "spark-x-abcdefgh-worker-1"),
        ("Pod", "spark-x-abcdefgh-worker-2"), ("Pod", "spark-x-abcdefgh-worker-3")]
    assert manifest_violations(objects, "fed") == []
    driver = objects[2]["spec"]["containers"][0]["command"]
    assert driver[driver.index("--class") + 1] == CONNECT_SERVER_CLASS and driver[-1] == "spark-internal"
    assert "spark.connect.grpc.binding.address=$(FEDSPAWNER_POD_IP)" in driver
    assert f"spark.connect.grpc.binding.port={CONNECT_PORT}" in driver
    assert {p["port"] for p in objects[1]["spec"]["ports"]} >= {CONNECT_PORT}
    workers = [o["spec"]["containers"][0]["command"] for o in objects[3:]]
    assert all("spark://spark-x-abcdefgh-driver.spark-x-abcdefgh:7077" in w for w in workers)
    assert all(o["spec"]["hostname"] == o["metadata"]["name"] and o["spec"]["subdomain"] == "spark-x-abcdefgh"
               for o in objects[2:])


def test_sessions_are_labelled_apart_from_jobs_everywhere():
    text = json.dumps(rendered(executors=1))
    assert f'"{LABEL_MANAGED_BY}": "fedspawner"' not in text  # the jobs index selects exactly that
    for obj in rendered(executors=1):
        assert obj["metadata"]["labels"][LABEL_MANAGED_BY] == SESSION_MANAGED_BY
        assert obj["metadata"]["labels"][LABEL_SESSION_ID] == "s-abcdefgh"
    service = rendered(executors=1)[1]
    assert service["spec"]["selector"][LABEL_MANAGED_BY] == SESSION_MANAGED_BY


def test_a_users_conf_keeps_its_dollars_and_stays_on_the_allow_list():
    driver = rendered(conf={"spark.sql.session.timeZone": "$UTC"})[2]["spec"]["containers"][0]["command"]
    assert "spark.sql.session.timeZone=$$UTC" in driver
    with pytest.raises(JobSpecError, match="spark.kubernetes"):
        rendered(conf={"spark.kubernetes.driver.podTemplateFile": "/x"})


def test_a_session_request_takes_session_fields_only():
    settings = Sessions()
    spec, cluster = session_spec({"executors": 2, "cluster": "regional"}, settings)
    assert (spec.kind, spec.executors, spec.image, cluster) == ("spark", 2, settings.default_image, "regional")
    assert session_spec({}, settings)[1] == "auto"
    with pytest.raises(BadRequest, match="does not take 'packages'"):
        session_spec({"packages": ["numpy"]}, settings)
    with pytest.raises(Forbidden, match="host"):
        session_spec({"hostPID": True}, settings)
    with pytest.raises(BadRequest, match="JSON object"):
        session_spec("start", settings)
    with pytest.raises(JobSpecError, match="spark.master"):
        session_spec({"conf": {"spark.master": "local[*]"}}, settings)


def test_idle_and_detached_sessions_are_stopped_after_their_timeouts():
    settings = Sessions(idle_timeout=60, detached_timeout=10)
    fresh = Activity(last=1000.0, detached_since=1000.0)  # created, never connected
    assert idle_reason(fresh, 1005.0, settings) is None
    assert "no tunnel open for 11s" in idle_reason(fresh, 1011.0, settings)
    busy = Activity(last=1000.0)
    busy.opened()
    busy.last = 1000.0
    assert idle_reason(busy, 1030.0, settings) is None
    assert "no traffic for 61s" in idle_reason(busy, 1061.0, settings)
    attached = Activity(last=1000.0)
    attached.opened()
    attached.closed()
    attached.detached_since = 1000.0
    assert idle_reason(attached, 1005.0, Sessions(idle_timeout=0, detached_timeout=10)) is None
    assert "no tunnel open for 11s" in idle_reason(attached, 1011.0, Sessions(idle_timeout=0, detached_timeout=10))
    assert idle_reason(attached, 99999.0, Sessions(idle_timeout=0, detached_timeout=0)) is None


def test_session_ids_look_like_job_ids_with_their_own_prefix():
    ids = {new_session_id() for _ in range(50)}
    assert len(ids) == 50 and all(i.startswith("s-") and len(i) == 10 for i in ids)


def test_fedspark_reads_its_command_line_before_sending_anything():
    args = parse_fedspark("start --cluster regional --executors 3 --conf spark.sql.shuffle.partitions=8 --keep")
    assert args.action == "start" and args.keep
    assert args.options == {"cluster": "regional", "executors": 3, "conf": {"spark.sql.shuffle.partitions": "8"}}
    assert parse_fedspark("attach s-abcdefgh").session == "s-abcdefgh"
    for line, words in [("start --executors 0", "--executors must be a whole number"),
                        ("stop --executors 2", "takes no options"), ("status s-abcdefgh", "takes no session"),
                        ("launch", "invalid choice"), ("start --conf nokey", "KEY=VALUE")]:
        with pytest.raises(ArgumentsError, match=words):
            parse_fedspark(line)


def test_the_create_request_holds_only_what_was_given():
    assert session_body("auto", 2) == {"cluster": "auto", "executors": 2}
    assert session_body(conf={}, memory="4Gi") == {"memory": "4Gi"}
