"""MultiKueue interop: the worker a job was dispatched to, its view, and the sandbox's set-up parts."""

from __future__ import annotations

import pytest

from fedspawner.client import view
from fedspawner.federation.multikueue import CARRY_LIMIT, CannotCarry, carry_files, dispatched_to, mirrored_message
from fedspawner.sandbox.multikueue import add, capacity, manager_objects, queue_objects, remote_rules
from fedspawner.sandbox.topology import TopologyError, parse_topology

NODE = {"name": "cpu", "count": 2, "cpu": "8", "memory": "32Gi"}


def topo(manager: dict, workers=({"name": "w1", "operators": ["kueue"], "node_groups": [NODE]},)):
    return parse_topology({"clusters": [{"name": "mgr", "node_groups": [NODE], **manager}, *workers]})


def test_the_worker_comes_from_the_workloads_cluster_name_or_the_admission_checks_message():
    assert dispatched_to({"status": {"clusterName": "batch-a"}}) == "batch-a"
    ready = {"name": "shared", "state": "Ready", "message": 'The workload was admitted on "batch-b"'}
    assert dispatched_to({"status": {"admissionChecks": [ready]}}) == "batch-b"
    assert dispatched_to({"status": {"admissionChecks": [{**ready, "state": "Retry"}]}}) is None
    assert dispatched_to({"status": {"admissionChecks": [{"name": "shared", "state": "Pending"}]}}) is None
    assert dispatched_to({}) is None


def test_a_dispatched_job_says_its_pods_run_on_the_worker():
    phase, message = mirrored_message("Pending", "batch-a", "dispatch", {"status": {"active": 2, "ready": 2}})
    assert phase == "Running"
    assert message == ("2 pod(s) running on worker cluster batch-a (dispatched by MultiKueue on dispatch; "
                       "its pods and logs are there)")
    assert mirrored_message("Pending", "batch-a", "dispatch", {"status": {"active": 1}}) == (
        "Pending", "1 pod(s) starting on worker cluster batch-a (dispatched by MultiKueue on dispatch; "
                   "its pods and logs are there)")
    assert mirrored_message("Pending", "batch-a", "dispatch", {"status": {}})[0] == "Pending"
    assert mirrored_message("Succeeded", "batch-a", "dispatch", None) == (
        "Succeeded", "completed on worker cluster batch-a (dispatched by MultiKueue on dispatch)")


def test_the_cluster_column_names_the_worker():
    job = {"cluster": "dispatch", "queue": {"dispatched_to": "batch-a", "text": "admitted"}}
    assert view.cluster_text(job) == "dispatch → batch-a"
    assert "dispatch → batch-a" in view.header_html(job)
    assert view.cluster_text({"cluster": "training", "queue": None}) == "training"


def test_a_manager_names_its_workers_queue_and_lost_timeout():
    t = topo({"operators": ["kueue"], "multikueue": {"workers": ["w1"], "queue": "shared",
                                                     "worker_lost_timeout": "90s"}})
    mk = t.cluster("mgr").multikueue
    assert (mk.workers, mk.queue, mk.worker_lost_timeout) == (("w1",), "shared", "90s")
    assert t.cluster("w1").multikueue is None


@pytest.mark.parametrize("manager, workers, message", [
    ({"multikueue": {"workers": ["w1"]}}, None, "a MultiKueue manager runs Kueue"),
    ({"operators": ["kueue"], "multikueue": {"workers": ["nope"]}}, None, "'nope' is not another cluster"),
    ({"operators": ["kueue"], "multikueue": {"workers": ["mgr"]}}, None, "'mgr' is not another cluster"),
    ({"operators": ["kueue"], "multikueue": {"workers": []}}, None, "name at least one worker"),
    ({"operators": ["kueue"], "multikueue": {"workers": ["w1"], "worker_lost_timeout": "soon"}}, None,
     "'soon' is not a duration"),
    ({"operators": ["kueue"], "multikueue": {"workers": ["w1"]}},
     ({"name": "w1", "node_groups": [NODE]},), "the worker w1 needs kueue"),
    ({"operators": ["jobset", "kueue"], "multikueue": {"workers": ["w1"]}}, None, "the worker w1 needs jobset"),
])
def test_a_manager_that_cannot_work_is_refused_with_the_reason(manager, workers, message):
    with pytest.raises(TopologyError, match=message):
        topo(manager, *([workers] if workers else []))


def test_queues_get_the_workers_capacity_and_the_manager_the_admission_check():
    t = topo({"operators": ["kueue"], "multikueue": {"workers": ["w1"], "queue": "shared"}})
    worker = capacity(t.cluster("w1"))
    assert worker == {"cpu": "16000m", "memory": str(64 * 2 ** 30)}
    assert add(worker, worker)["cpu"] == "32000m"
    flavor, cq, lq = queue_objects("shared", "fedspawner", worker, check="shared")
    assert cq[2]["spec"]["admissionChecksStrategy"] == {"admissionChecks": [{"name": "shared"}]}
    assert lq[1:] == ("fedspawner", {"kind": "LocalQueue", "metadata": {"name": "shared", "namespace": "fedspawner"},
                                     "spec": {"clusterQueue": "shared"}})
    assert "admissionChecksStrategy" not in queue_objects("shared", "fedspawner", worker)[1][2]["spec"]
    kinds = [body["kind"] for _, _, body in manager_objects(t.cluster("mgr"), "fedspawner")]
    assert kinds == ["MultiKueueCluster", "MultiKueueConfig", "AdmissionCheck"]
    groups = {g for rule in remote_rules(t.cluster("w1")) for g in rule["apiGroups"]}
    assert groups == {"batch", "kueue.x-k8s.io", ""}


def _job_with_script(items=None) -> list[dict]:
    cm = {"kind": "ConfigMap", "metadata": {"name": "j-script"},
          "data": {"main.py": "print('hi')\n", "fedspawner_progress.py": "x = 1\n"}}
    volume = {"name": "script", "configMap": {"name": "j-script", **({"items": items} if items else {})}}
    job = {"kind": "Job", "metadata": {"name": "j"}, "spec": {"template": {"metadata": {"labels": {"a": "b"}}, "spec": {
        "containers": [{"name": "main", "volumeMounts": [{"name": "script", "mountPath": "/fedspawner/script"}]}],
        "volumes": [volume, {"name": "work", "emptyDir": {}}]}}}}
    return [cm, job]


def test_a_dispatched_jobs_files_travel_in_its_pod_template():
    cm, job = carry_files(_job_with_script())
    template = job["spec"]["template"]
    assert template["metadata"]["annotations"] == {"files.fedspawner.dev/main.py": "print('hi')\n",
                                                   "files.fedspawner.dev/fedspawner_progress.py": "x = 1\n"}
    script, work = template["spec"]["volumes"]
    assert script == {"name": "script", "downwardAPI": {"items": [
        {"path": "fedspawner_progress.py",
         "fieldRef": {"fieldPath": "metadata.annotations['files.fedspawner.dev/fedspawner_progress.py']"}},
        {"path": "main.py", "fieldRef": {"fieldPath": "metadata.annotations['files.fedspawner.dev/main.py']"}}]}}
    assert work == {"name": "work", "emptyDir": {}} and cm["kind"] == "ConfigMap"  # the ConfigMap stays


def test_a_volume_with_items_keeps_its_paths_and_nested_templates_are_found():
    _, job = carry_files(_job_with_script(items=[{"key": "main.py", "path": "run/main.py"}]))
    (item,) = job["spec"]["template"]["spec"]["volumes"][0]["downwardAPI"]["items"]
    assert item["path"] == "run/main.py"
    cm, job = _job_with_script()
    jobset = {"kind": "JobSet", "metadata": {"name": "js"},
              "spec": {"replicatedJobs": [{"name": "w", "template": {"spec": job["spec"]}}]}}
    carry_files([cm, jobset])
    inner = jobset["spec"]["replicatedJobs"][0]["template"]["spec"]["template"]
    assert "downwardAPI" in inner["spec"]["volumes"][0]


def test_files_too_big_for_the_pods_annotations_are_refused_with_the_reason():
    cm, job = _job_with_script()
    cm["data"]["main.py"] = "#" * (CARRY_LIMIT + 1)
    with pytest.raises(CannotCarry, match="too big to travel with it to a MultiKueue worker"):
        carry_files([cm, job])
