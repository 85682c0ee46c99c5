"""The jobs feed's pure parts: rows, ranks, origins and resubmission from the record; the shared index
keeping objects by job id and waking only those a change concerns."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from types import SimpleNamespace

from fedspawner.federation.model import InventorySnapshot
from fedspawner.gateway import kube
from fedspawner.gateway.identity import SPEC_KEY, JobRecord, resubmission
from fedspawner.gateway.index import JobIndex
from fedspawner.gateway.status import ROW_FIELDS, job_row
from fedspawner.gateway.views import JobViews, gpu_naming
from fedspawner.jobs.labels import LABEL_JOB_ID, LABEL_OWNER, owner_label_value
from fedspawner.jobs.spec import JobSpec

from .test_gateway_status import objects, pod, record


def test_a_row_has_the_panel_fields_and_counts_ready_ranks():
    rec = record(origin_path="work/train.ipynb", origin_cell="c1")
    row = job_row(objects([pod("a", index=0), pod("b", "Pending", index=1)], rec=rec))
    assert set(row) == {*ROW_FIELDS, "gpu_display", "ranks"}
    assert row["ranks"] == {"ready": 1, "total": 2} and row["phase"] == "Pending"
    assert row["origin"] == {"path": "work/train.ipynb", "cell": "c1"} and row["owner"] == "Alice"
    done = job_row(objects([pod("a", "Succeeded", index=0, exit_code=0), pod("b", index=1)]))
    assert done["ranks"] == {"ready": 2, "total": 2} and done["origin"] is None


def test_a_spark_row_counts_the_driver_and_executors():
    rec = record(kind="spark", nodes=1, executors=3)
    row = job_row(objects([pod("d", labels={"fedspawner.dev/component": "driver"})], rec=rec,
                          backend="spark-standalone"))
    assert row["ranks"] == {"ready": 1, "total": 4}


def test_a_gpu_row_names_its_gpu_for_people():
    row = job_row(objects([], rec=record(gpu_type="nvidia-a100-40gb", gpus_per_node=2)))
    assert row["gpu_display"] == "NVIDIA A100 40GB" and row["gpus_per_node"] == 2


def test_rows_do_not_change_with_time_alone():
    one = objects([pod("a", index=0)])
    assert json.dumps(job_row(one)) == json.dumps(job_row(one))


def test_the_record_keeps_origin_and_asked_clusters_through_json():
    spec = JobSpec.from_dict({"kind": "job", "script": "print(1)", "name": "again", "env": {"A": "1"}})
    rec = JobRecord.for_spec(spec, None, frozenset(), True, ("onprem", "regional"),
                             {"path": "a.ipynb", "cell": None})
    back = JobRecord.from_json(rec.to_json())
    assert back == rec and back.origin == {"path": "a.ipynb", "cell": None}
    assert back.asked_clusters == ("onprem", "regional")
    old = json.loads(rec.to_json())
    for key in ("asked_clusters", "origin_path", "origin_cell"):  # written by an older gateway
        old.pop(key)
    assert JobRecord.from_json(json.dumps(old)).origin is None


def test_resubmission_is_the_spec_with_script_clusters_and_origin():
    spec = JobSpec.from_dict({"kind": "job", "script": "print(1)", "name": "again"})
    data = {k: v for k, v in spec.to_dict().items() if k != "script"}
    configmap = {"data": {SPEC_KEY: json.dumps(data), "main.py": "print(1)"}}
    body = resubmission(configmap, JobRecord.for_spec(spec, None, frozenset(), False, ("onprem",),
                                                      {"path": "x.ipynb", "cell": "c"}))
    assert body["script"] == "print(1)" and body["cluster"] == "onprem"
    assert body["origin"] == {"path": "x.ipynb", "cell": "c"}
    assert JobSpec.from_dict({k: v for k, v in body.items() if k not in ("cluster", "origin")}) == spec
    assert resubmission(configmap, JobRecord.for_spec(spec, None, frozenset(), False))["cluster"] == "auto"


def bare_index() -> JobIndex:
    """An index with no clusters to watch, fed changes by hand as its watches would."""
    return JobIndex(SimpleNamespace(members={}, inventories={}), store=SimpleNamespace(namespace=lambda _: "ns"))


def labelled(name: str, job_id: str | None, owner: str = "alice", kind: str = "Pod") -> dict:
    meta_labels = {LABEL_OWNER: owner_label_value(owner), **({LABEL_JOB_ID: job_id} if job_id else {})}
    return {"kind": kind, "metadata": {"name": name, "namespace": "ns", "labels": meta_labels}}


def change(index: JobIndex, kind: str, obj: dict, resource=kube.PODS, watch=None) -> None:
    index._on_change("onprem", resource, watch or SimpleNamespace(objects={}), kind, obj)


async def test_a_change_wakes_its_owner_and_everyone_waiters_only():
    index = bare_index()
    alice = asyncio.create_task(index.wait("alice", 5))
    bob = asyncio.create_task(index.wait("Bob@example", 0.3))
    everyone = asyncio.create_task(index.wait(None, 5))
    await asyncio.sleep(0)
    change(index, "MODIFIED", labelled("p", None))
    assert await alice and await everyone
    assert not await bob  # timed out: alice's change did not wake bob
    bob = asyncio.create_task(index.wait("Bob@example", 5))
    await asyncio.sleep(0)
    change(index, "RELIST", {})  # a relist may change anyone's view
    assert await bob


async def test_objects_are_indexed_by_job_and_wake_only_that_jobs_followers():
    index = bare_index()
    index._started["onprem"].set()
    index.watches["onprem"] = []
    index.events["onprem"] = SimpleNamespace(objects={}, synced=asyncio.Event())
    index.events["onprem"].synced.set()
    heard: list = []
    index.listen(lambda cluster, job_id: heard.append((cluster, job_id)))
    change(index, "ADDED", labelled("a-0", "j-aaaaaaaa"))
    async with index.follow("onprem", "j-aaaaaaaa") as mine, \
            index.follow("onprem", "j-bbbbbbbb", appear_timeout=0.05) as other:
        assert [p["metadata"]["name"] for p in mine.objects().pods] == ["a-0"] and other.empty()
        change(index, "ADDED", labelled("a-1", "j-aaaaaaaa"))
        assert await mine.next_change(1) and not await other.next_change(0.05)
        assert len(mine.objects().pods) == 2
        change(index, "DELETED", labelled("a-0", "j-aaaaaaaa"))
        change(index, "DELETED", labelled("a-1", "j-aaaaaaaa"))
        assert mine.empty() and index.job_ids("onprem") == []
        assert await index.until("onprem", "j-aaaaaaaa", present=False, timeout=0.1)
    assert heard[:2] == [("onprem", "j-aaaaaaaa")] * 2 and index._follows == {}


def test_a_relist_replaces_what_the_resource_held():
    index = bare_index()
    change(index, "ADDED", labelled("old", "j-aaaaaaaa"))
    change(index, "ADDED", labelled("cm", "j-aaaaaaaa", kind="ConfigMap"), resource=kube.CONFIGMAPS)
    listed = SimpleNamespace(objects={"ns/new": labelled("new", "j-bbbbbbbb")})
    change(index, "RELIST", {}, watch=listed)
    assert sorted(index.job_ids("onprem")) == ["j-aaaaaaaa", "j-bbbbbbbb"]
    assert index.job("onprem", "j-aaaaaaaa").pods == [] and index.job("onprem", "j-bbbbbbbb").pods


def test_failed_creates_are_matched_to_the_jobs_workloads():
    index = bare_index()
    change(index, "ADDED", labelled("train-aaaaaaaa", "j-aaaaaaaa", kind="Job"), resource=kube.JOBS)
    event = {"metadata": {"name": "e1", "namespace": "ns"}, "involvedObject": {"name": "train-aaaaaaaa"}}
    index.events["onprem"] = SimpleNamespace(objects={"ns/e1": event, "ns/e2": {
        "metadata": {"name": "e2"}, "involvedObject": {"name": "someone-else"}}})
    assert index.failed_creates("onprem", "j-aaaaaaaa") == [event]
    assert index.failed_creates("onprem", "j-bbbbbbbb") == []


def test_views_are_computed_again_only_when_the_job_or_gpu_naming_changes():
    views = JobViews()
    snapshot = InventorySnapshot(clusters=())
    job = objects([pod("a", index=0)])
    first = views.view(job, snapshot, gpu_naming(snapshot))
    first["progress"] = {"step": 1}  # callers' additions stay theirs
    assert views.view(job, snapshot, ()) is not first and "step" not in str(views.view(job, snapshot, ()))
    row = views.row(job, snapshot, ())
    assert views.row(job, snapshot, ()) is row  # unchanged: the same row
    job.pods[0]["metadata"]["resourceVersion"] = "2"
    job.pods[0]["status"]["phase"] = "Succeeded"
    assert views.row(job, snapshot, ()) is row  # the very same copy is taken as unchanged (the index's contract)
    job = dataclasses.replace(job)  # the index hands out a new copy of a job that changed
    assert views.row(job, snapshot, ()) is not row
    assert views.row(job, snapshot, (("onprem", ()),)) is not views.row(job, snapshot, ())
    views.forget(job.cluster, job.job_id)
    assert len(views) == 0


def test_an_unchanged_job_copy_is_handed_out_again_and_a_changed_one_anew():
    index = bare_index()
    index.store.healthy = lambda: (["onprem"], [])
    synced = asyncio.Event()
    synced.set()
    index.watches["onprem"], index.events["onprem"] = [], SimpleNamespace(synced=synced)
    index.watches["onprem"].append((kube.PODS, SimpleNamespace(synced=synced)))
    change(index, "ADDED", labelled("a-0", "j-aaaaaaaa"))
    change(index, "ADDED", labelled("b-0", "j-bbbbbbbb", owner="bob"))
    first, _ = index.jobs(None)
    again, _ = index.jobs(None)
    assert [id(j) for j in first] == [id(j) for j in again]
    change(index, "MODIFIED", labelled("a-0", "j-aaaaaaaa"))
    after = {j.job_id: j for j in index.jobs(None)[0]}
    before = {j.job_id: j for j in first}
    assert after["j-aaaaaaaa"] is not before["j-aaaaaaaa"] and after["j-bbbbbbbb"] is before["j-bbbbbbbb"]
