"""Job ids, object names and the job record kept on the anchor ConfigMap (pure)."""

from __future__ import annotations

import json

from fedspawner.gateway.identity import (
    ANNOTATION_RECORD, SPEC_KEY, JobRecord, anchor_patch, new_id, new_job_id, object_name, record_of, spec_of,
)
from fedspawner.jobs import JobSpec, RenderTarget
from fedspawner.jobs.checks import MAX_NAME_LENGTH
from fedspawner.jobs.render import render
from fedspawner.jobs.validation import is_dns1035_label
from fedspawner.jobs.vocabulary import JOB_ID_RE, is_job_id, is_session_id


def test_job_ids_are_unique_and_well_formed():
    ids = {new_job_id() for _ in range(2000)}
    assert len(ids) == 2000 and all(JOB_ID_RE.match(i) and is_job_id(i) for i in ids)


def test_session_ids_are_told_apart_from_job_ids_and_junk():
    ids = {new_id("s") for _ in range(500)}
    assert len(ids) == 500 and all(is_session_id(i) and not is_job_id(i) for i in ids)
    assert not any(is_session_id(x) for x in ("s-ABCD2345", "s-abcd1890", "s-abcd234", "j-abcd2345", None, 7))


def test_object_names_are_valid_and_carry_the_id():
    assert object_name("ddp-demo", "j-abcd2345") == "ddp-demo-abcd2345"
    long = object_name("a" * 30 + "-" + "b" * 9, "j-abcd2345")
    assert len(long) <= 40 and long.endswith("-abcd2345") and is_dns1035_label(long)
    longest = object_name("a" * MAX_NAME_LENGTH, new_job_id())
    assert len(longest) == MAX_NAME_LENGTH and is_dns1035_label(longest)
    assert "--" not in object_name("a" * 30 + "-b", "j-abcd2345")


def test_record_round_trip_and_history():
    spec = JobSpec.from_dict({"kind": "pytorch", "name": "ddp", "script": "x", "nodes": 2,
                              "gpus": "a100-40gb:4"})
    record = JobRecord.for_spec(spec, "nvidia-a100-40gb", frozenset({"b", "a"}), ordered=True)
    assert record.groups == ("a", "b") and record.ordered and record.gpus_per_node == 4
    again = JobRecord.from_json(record.to_json())
    assert again == record
    assert again.noted("moved").history == ("moved",)
    assert JobRecord.from_json("{not json") is None and JobRecord.from_json('{"name": 1}') is None
    assert JobRecord.from_json("[1]") is None


def test_records_with_fields_this_version_does_not_know_still_read():
    spec = JobSpec.from_dict({"kind": "job", "name": "old", "script": "x"})
    record = JobRecord.for_spec(spec, None, frozenset(), ordered=False)
    data = {**json.loads(record.to_json()), "gpu_display": "NVIDIA A100 40GB", "from_the_future": [1]}
    assert JobRecord.from_json(json.dumps(data)) == record


def test_anchor_carries_the_record_and_the_spec():
    spec = JobSpec.from_dict({"kind": "job", "name": "sweep", "script": "echo hi", "language": "bash",
                              "env": {"A": "1"}, "packages": ["numpy"]})
    target = RenderTarget(namespace="ns", job_id="j-abcd2345", owner="bob", backend="indexed-job")
    objects = render(spec, target)
    record = JobRecord.for_spec(spec, None, frozenset(), ordered=False)
    anchor = anchor_patch(objects, record, spec)[0]
    assert record_of(anchor) == record
    assert "script" not in anchor["data"][SPEC_KEY]
    assert spec_of(anchor) == spec
    assert ANNOTATION_RECORD in anchor["metadata"]["annotations"]
    assert record_of(None) is None and record_of({"metadata": {}}) is None
