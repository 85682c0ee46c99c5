"""The gateway's view of a job from its objects: ranks, phases, messages (pure)."""

from __future__ import annotations

import pytest

from fedspawner.federation.model import ClusterSnapshot, GpuAvailability, InventorySnapshot
from fedspawner.gateway.identity import ANNOTATION_RECORD, JobRecord
from fedspawner.gateway.model import JobObjects
from fedspawner.gateway.status import cancelled_view, current_pods, job_view, role_and_rank, terminal_state

INDEX = "batch.kubernetes.io/job-completion-index"


def record(**fields) -> JobRecord:
    values = dict(name="ddp", kind="pytorch", image="pytorch/pytorch:2", nodes=2, gpus_per_node=0,
                  gpu_type=None, created="2026-01-01T00:00:00Z")
    values.update(fields)
    return JobRecord(**values)


def anchor(rec: JobRecord, backend: str = "indexed-job") -> dict:
    return {"kind": "ConfigMap", "metadata": {"name": "ddp-abcd2345-script", "labels": {
        "fedspawner.dev/backend": backend, "fedspawner.dev/kind": rec.kind},
        "annotations": {ANNOTATION_RECORD: rec.to_json(), "fedspawner.dev/owner-name": "Alice"}}}


def pod(name: str, phase: str = "Running", *, index: int | None = None, labels: dict | None = None,
        created: str = "2026-01-01T00:00:01Z", node: str | None = "n1", waiting: str | None = None,
        exit_code: int | None = None, unschedulable: str | None = None) -> dict:
    state: dict = {"running": {"startedAt": "2026-01-01T00:00:05Z"}} if phase == "Running" else {}
    if waiting:
        state = {"waiting": {"reason": waiting}}
    if exit_code is not None:
        state = {"terminated": {"exitCode": exit_code, "reason": "Error" if exit_code else "Completed",
                                "startedAt": "2026-01-01T00:00:05Z"}}
    status: dict = {"phase": phase, "containerStatuses": [{"name": "main", "state": state, "restartCount": 0,
                                                           "ready": phase == "Running"}]}
    if unschedulable:
        status = {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
                                                      "reason": "Unschedulable", "message": unschedulable}]}
    meta = {"name": name, "creationTimestamp": created,
            "labels": labels or {"fedspawner.dev/component": "rank"},
            "annotations": {INDEX: str(index)} if index is not None else {}}
    return {"kind": "Pod", "metadata": meta, "spec": {"nodeName": node, "containers": [{"name": "main"}]},
            "status": status}


def job(conditions: list | None = None, kind: str = "Job", **extra) -> dict:
    return {"kind": kind, "metadata": {"name": "ddp-abcd2345", "labels": {}},
            "status": {"conditions": conditions or []}, **extra}


def objects(pods: list, workloads: list | None = None, rec: JobRecord | None = None,
            backend: str = "indexed-job") -> JobObjects:
    rec = rec or record()
    return JobObjects("j-abcd2345", "onprem", "fedspawner", anchor=anchor(rec, backend),
                      workloads=workloads if workloads is not None else [job()], pods=pods)


@pytest.mark.parametrize("labels, annotations, kind, expected", [
    ({"fedspawner.dev/component": "rank"}, {INDEX: "3"}, "pytorch", ("rank", 3)),
    ({"fedspawner.dev/component": "rank"}, {INDEX: "2"}, "job", ("rank", 2)),
    ({"fedspawner.dev/component": "driver"}, {}, "spark", ("driver", 0)),
    ({"spark-role": "driver"}, {}, "spark", ("driver", 0)),
    ({"fedspawner.dev/component": "executor", "spark-exec-id": "2"}, {}, "spark", ("executor", 2)),
    ({"fedspawner.dev/component": "worker"}, {INDEX: "0"}, "spark", ("worker", 1)),
    ({"fedspawner.dev/component": "rank"}, {INDEX: "1"}, "pytorch", ("rank", 1)),
    ({}, {INDEX: "1"}, None, ("rank", 1)),  # an unknown kind: the Indexed Job's index
])
def test_role_and_rank(labels, annotations, kind, expected):
    assert role_and_rank({"metadata": {"labels": labels, "annotations": annotations}}, kind) == expected


def test_replaced_pods_drop_out_and_rows_follow_rank_order():
    pods = [pod("b", index=1), pod("a-old", "Failed", index=0, exit_code=1),
            pod("a-new", index=0, created="2026-01-01T00:00:09Z")]
    names = [p["metadata"]["name"] for p in current_pods(objects(pods))]
    assert names == ["a-new", "b"]


def test_pending_until_every_rank_runs_and_says_what_it_waits_for():
    rec = record(gpus_per_node=4, gpu_type="nvidia-a100-40gb")
    view = job_view(objects([pod("a", index=0)], rec=rec))
    assert view["phase"] == "Pending"
    assert view["message"] == "waiting for 2 × 4 NVIDIA A100 40GB on onprem (1 of 2 running)"
    gpu = GpuAvailability("nvidia-a100-40gb", "A100 (lab)", "nvidia.com/gpu", total=8, free=4,
                          free_upper_bound=None, largest_free_on_one_node=4, max_per_node=4)
    snapshot = InventorySnapshot(clusters=(ClusterSnapshot("onprem", "onprem", gpus={gpu.gpu_type: gpu}),))
    named = job_view(objects([pod("a", index=0)], rec=rec), None, snapshot)
    assert named["message"] == "waiting for 2 × 4 A100 (lab) on onprem (1 of 2 running)"
    assert view["started"] is None and view["owner"] == "Alice" and view["name"] == "ddp"
    none_yet = job_view(objects([], rec=rec))
    assert none_yet["message"].endswith("pods not created yet")


def test_an_unschedulable_rank_is_named():
    stuck = pod("b", "Pending", index=1, node=None,
                unschedulable="0/7 nodes are available: 7 Insufficient cpu.")
    view = job_view(objects([pod("a", index=0), stuck]))
    assert view["phase"] == "Pending"
    assert view["message"] == "rank 1 on onprem: Unschedulable: 0/7 nodes are available: 7 Insufficient cpu."
    assert view["pods"][1]["reason"].startswith("Unschedulable")


def test_running_once_every_rank_runs():
    view = job_view(objects([pod("a", index=0), pod("b", index=1)]), progress={"step": 1})
    assert (view["phase"], view["message"]) == ("Running", "2 pod(s) running on onprem")
    assert view["started"] == "2026-01-01T00:00:05Z" and view["progress"] == {"step": 1}
    assert [(p["rank"], p["role"], p["ready"], p["node"]) for p in view["pods"]] == [
        (0, "rank", True, "n1"), (1, "rank", True, "n1")]


def test_succeeded_and_failed_come_from_the_workload():
    done = job([{"type": "Complete", "status": "True", "lastTransitionTime": "2026-01-01T00:01:00Z"}],
               )
    done["status"]["completionTime"] = "2026-01-01T00:01:00Z"
    view = job_view(objects([pod("a", "Succeeded", index=0, exit_code=0), pod("b", "Succeeded", index=1,
                                                                              exit_code=0)], [done]))
    assert (view["phase"], view["finished"]) == ("Succeeded", "2026-01-01T00:01:00Z")
    failed = job([{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                   "lastTransitionTime": "2026-01-01T00:01:00Z"}])
    pods = [pod("a", "Running", index=0), pod("b", "Failed", index=1, exit_code=3)]
    view = job_view(objects(pods, [failed]))
    assert view["phase"] == "Failed"
    assert view["message"] == "rank 1 failed: Error (exit code 3)"
    deadline = job([{"type": "Failed", "status": "True", "reason": "DeadlineExceeded"}])
    assert job_view(objects([], [deadline]))["message"].startswith("stopped after its time limit")


def test_terminal_states_of_custom_resources():
    assert terminal_state(job([{"type": "Succeeded", "status": "True"}], kind="TrainJob"))[0] == "Succeeded"
    assert terminal_state(job([{"type": "Running", "status": "True"}], kind="TrainJob")) is None
    spark = {"kind": "SparkApplication", "status": {"applicationState": {"state": "FAILED",
                                                                         "errorMessage": "driver OOM"}}}
    assert terminal_state(spark)[:2] == ("Failed", "driver OOM")
    running = {"kind": "SparkApplication", "status": {"applicationState": {"state": "RUNNING"}}}
    assert terminal_state(running) is None


def test_spark_ui_url_while_running():
    rec = record(kind="spark", nodes=1, executors=1)
    driver_job = job(kind="Job")
    driver_job["metadata"] = {"name": "etl-driver", "labels": {"fedspawner.dev/component": "driver"},
                              "annotations": {"fedspawner.dev/spark-ui-host": "etl-driver-0.etl",
                                              "fedspawner.dev/spark-ui-port": "4040"}}
    pods = [pod("d", labels={"fedspawner.dev/component": "driver"}),
            pod("w", index=0, labels={"fedspawner.dev/component": "worker"})]
    view = job_view(objects(pods, [driver_job], rec=rec, backend="spark-standalone"))
    assert view["phase"] == "Running" and view["ui_url"] == "http://etl-driver-0.etl:4040"
    assert [(p["role"], p["rank"]) for p in view["pods"]] == [("driver", 0), ("worker", 1)]


def test_a_job_without_its_record_still_shows():
    orphan = JobObjects("j-abcd2345", "onprem", "fedspawner", pods=[pod("a", index=0)])
    view = job_view(orphan)
    assert view["id"] == "j-abcd2345" and view["history"] == [] and view["phase"] == "Running"


def test_a_cancelled_job_keeps_its_last_view_without_pods():
    last = job_view(objects([pod("a", index=0), pod("b", index=1)]), progress={"step": 2})
    view = cancelled_view(last, "cancelled: gone")
    assert (view["phase"], view["pods"], view["ui_url"]) == ("Cancelled", [], None)
    assert view["message"] == "cancelled: gone"
    assert view["progress"] == {"step": 2} and view["id"] == last["id"]


def test_a_batch_job_has_succeeded_once_every_rank_has_before_its_conditions_say_so():
    ranks = [pod("a", "Succeeded", index=0, exit_code=0), pod("b", "Succeeded", index=1, exit_code=0)]
    view = job_view(objects(ranks, [job()]))
    assert (view["phase"], view["message"]) == ("Succeeded", "completed on onprem")
    one_left = [pod("a", "Succeeded", index=0, exit_code=0), pod("b", "Running", index=1)]
    assert job_view(objects(one_left, [job()]))["phase"] == "Running"
    custom = job_view(objects(ranks, [job(kind="TrainJob")]))
    assert custom["phase"] == "Running"  # the operator decides its own custom resource's end


def test_a_batch_job_decided_before_its_pods_are_gone():
    met = job([{"type": "SuccessCriteriaMet", "status": "True", "lastTransitionTime": "2026-01-01T00:01:00Z"}])
    assert terminal_state(met) == ("Succeeded", "", "2026-01-01T00:01:00Z")
    target = job([{"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded"}])
    assert terminal_state(target)[:2] == ("Failed", "BackoffLimitExceeded")
