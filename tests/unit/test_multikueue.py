"""MultiKueue interop: the worker a job was dispatched to, its view, and the sandbox's set-up parts."""

from __future__ import annotations

import pytest

from fedspawner.client import view
from fedspawner.federation.multikueue import dispatched_to, mirrored_message
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
    phase, message = mirrored_message("batch-a", "dispatch", {"status": {"active": 2, "ready": 2}})
    assert phase == "Running"
    assert message == ("2 pod(s) running on worker cluster batch-a (dispatched by MultiKueue on dispatch; "
                       "its pods and logs are there)")
    assert mirrored_message("batch-a", "dispatch", {"status": {"active": 1}}) == (
        "Pending", "1 pod(s) starting on worker cluster batch-a (dispatched by MultiKueue on dispatch; "
                   "its pods and logs are there)")
    assert mirrored_message("batch-a", "dispatch", {"status": {}})[0] == "Pending"


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
