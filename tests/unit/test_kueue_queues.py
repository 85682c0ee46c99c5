"""Kueue's objects read for people (``federation.queues``): wait reasons, positions, headroom.

Condition messages are the ones Kueue v0.19.2 writes (seen on the sandbox's Kueue).
"""

from __future__ import annotations

from fedspawner.federation import queues
from fedspawner.federation.model import PlacementRequest
from fedspawner.gateway.queueing import enqueue

SHORT = ("couldn't assign flavors to pod set main: insufficient unused quota for cpu in flavor default-flavor, "
         "1 more needed")
NEVER = ("couldn't assign flavors to pod set main: insufficient quota for cpu in flavor default-flavor, previously "
         "considered podsets requests (0) + current podset request (8) > maximum capacity (2)")


def workload(name: str, *, created: str = "2026-12-07T10:00:00Z", queue: str = "team", priority: int = 0,
             conditions: list[tuple[str, str, str, str]] = (), cpu: str = "1500m", checks=None) -> dict:
    return {"metadata": {"name": name, "creationTimestamp": created},
            "spec": {"queueName": queue, "priority": priority,
                     "podSets": [{"name": "main", "count": 2, "template": {"spec": {"containers": [
                         {"name": "m", "resources": {"requests": {"cpu": cpu, "memory": "64Mi"}}}]}}}]},
            "status": {"conditions": [{"type": t, "status": s, "reason": r, "message": m,
                                       "lastTransitionTime": "2026-12-07T10:01:00Z"} for t, s, r, m in conditions],
                       **({"admissionChecks": checks} if checks else {})}}


def waiting(name: str, message: str = SHORT, **kw) -> dict:
    return workload(name, conditions=[("QuotaReserved", "False", "Pending", message)], **kw)


ADMITTED = [("QuotaReserved", "True", "QuotaReserved", "Quota reserved in ClusterQueue team-cq"),
            ("Admitted", "True", "Admitted", "The workload is admitted")]


def test_short_of_quota_says_what_it_needs_and_how_much_more():
    assert queues.wait_reason(waiting("a")) == "waiting for quota (needs 3 cpu, 1 cpu more than is free)"


def test_with_the_cluster_queue_visible_it_says_what_is_free():
    assert queues.wait_reason(waiting("a"), free={"cpu": 2.0, "memory": 1e9}) == \
        "waiting for quota (needs 3 cpu, 2 cpu free)"


def test_a_quota_smaller_than_the_job_can_never_be_admitted():
    w = waiting("c", NEVER)
    assert queues.wait_reason(w).startswith("can never be admitted")
    assert queues.never_admitted(w)
    assert not queues.never_admitted(waiting("a"))


def test_a_stopped_queue_and_a_missing_queue_are_said_so():
    assert "stopped by the cluster's admins" in queues.wait_reason(waiting("a", "LocalQueue team is inactive"))
    assert "does not exist" in queues.wait_reason(waiting("a", "LocalQueue nope doesn't exist"))


def test_preemption_and_admission_checks():
    preempted = workload("p", conditions=[("QuotaReserved", "False", "Pending", SHORT),
                                          ("Evicted", "True", "Preempted", "Preempted to accommodate a workload")])
    assert queues.wait_reason(preempted).startswith("preempted")
    checking = workload("k", conditions=[ADMITTED[0]],
                        checks=[{"name": "prov", "state": "Pending", "message": "waiting for nodes"}])
    assert queues.wait_reason(checking) == "quota reserved; waiting for admission checks (prov: waiting for nodes)"


def test_admitted_and_finished_have_no_reason():
    assert queues.wait_reason(workload("a", conditions=ADMITTED)) is None
    assert queues.admitted_time(workload("a", conditions=ADMITTED)) == "2026-12-07T10:01:00Z"


def test_position_counts_pending_workloads_of_the_same_queue_by_priority_then_age():
    line = [waiting("old", created="2026-12-07T09:00:00Z"), waiting("new", created="2026-12-07T11:00:00Z"),
            waiting("urgent", created="2026-12-07T12:00:00Z", priority=100),
            waiting("elsewhere", queue="other", created="2026-12-07T08:00:00Z"),
            workload("running", conditions=ADMITTED, created="2026-12-07T07:00:00Z")]
    assert queues.position(line, "urgent") == (1, 3)
    assert queues.position(line, "old") == (2, 3)
    assert queues.position(line, "new") == (3, 3)
    assert queues.position(line, "running") is None


def test_queue_line_reads_as_a_sentence():
    line = [waiting("a", created="2026-12-07T09:00:00Z"), waiting("b")]
    view = queues.queue_view(line[1], line, "training", free={"cpu": 0.5})
    assert queues.queue_line(view) == \
        "queued in team on training, position 2 of 2: waiting for quota (needs 3 cpu, 0.5 cpu free)"
    done = queues.queue_view(workload("a", conditions=ADMITTED), line, "training")
    assert queues.queue_line(done) == "admitted by queue team on training at 2026-12-07T10:01:00Z"


LQ = {"metadata": {"name": "team"}, "spec": {"clusterQueue": "team-cq"},
      "status": {"pendingWorkloads": 2, "admittedWorkloads": 1,
                 "conditions": [{"type": "Active", "status": "True", "reason": "Ready"}],
                 "flavorsReservation": [{"name": "default-flavor", "resources": [
                     {"name": "cpu", "total": "1500m"}, {"name": "memory", "total": "64Mi"}]}]}}
CQ = {"metadata": {"name": "team-cq"}, "spec": {"resourceGroups": [{"coveredResources": ["cpu", "memory"], "flavors": [
    {"name": "default-flavor", "resources": [{"name": "cpu", "nominalQuota": "2"},
                                             {"name": "memory", "nominalQuota": "4Gi"}]}]}]}}


def test_headroom_is_known_only_where_the_cluster_queue_is_visible():
    hidden = queues.local_queue_state(LQ)
    assert hidden.free() is None
    assert queues.placement_reason(hidden, "training") == \
        "queue team on training: 2 ahead (its quota is not visible to the hub: up to the cluster's capacity)"
    seen = queues.local_queue_state(LQ, CQ)
    assert seen.free() == {"cpu": 0.5, "memory": 4 * 2 ** 30 - 64 * 2 ** 20}
    assert queues.placement_reason(seen, "training").startswith("queue team on training: 2 ahead, 0.5 cpu")
    assert queues.fits(seen, {"cpu": 1.0}) is False and queues.fits(hidden, {"cpu": 1.0}) is None
    assert "can never be admitted" in queues.never_fits(seen, {"cpu": 8.0})
    assert queues.never_fits(seen, {"cpu": 1.0}) is None


def test_a_queue_stopped_by_its_admins():
    held = {**LQ, "spec": {**LQ["spec"], "stopPolicy": "HoldAndDrain"}}
    assert queues.local_queue_state(held).stopped == \
        "the queue is stopped by the cluster's admins (HoldAndDrain) and is draining its running work"
    assert queues.local_queue_state(LQ).stopped is None


def test_which_queue_a_job_uses():
    assert queues.choose_queue(["a", "default"], None) == "default"
    assert queues.choose_queue(["only"], None) == "only"
    assert queues.choose_queue(["b", "a"], None) == "a"
    assert queues.choose_queue(["a"], "named") is None  # the admins' queue must exist
    assert queues.queue_for({"physics": "phys-q", "*": "all-q"}, frozenset({"physics"})) == "phys-q"
    assert queues.queue_for({"physics": "phys-q", "*": "all-q"}, frozenset({"bio"})) == "all-q"
    assert queues.queue_for("research", frozenset()) == "research"


def test_job_needs_counts_the_whole_gang():
    request = PlacementRequest(pods=2, cpu_milli=1500, memory_bytes=2 ** 30)
    assert queues.job_needs(request) == {"cpu": 3.0, "memory": 2.0 * 2 ** 30}


def test_only_workload_objects_get_the_queue_label():
    objects = [{"kind": "ConfigMap", "metadata": {"name": "s"}}, {"kind": "Service", "metadata": {"name": "h"}},
               {"kind": "Job", "metadata": {"name": "j", "labels": {"x": "1"}}},
               {"kind": "TrainJob", "metadata": {"name": "t"}}]
    enqueue(objects, "team")
    assert [o["metadata"].get("labels", {}).get(queues.QUEUE_LABEL) for o in objects] == [None, None, "team", "team"]


def test_the_widget_and_fedjobs_show_the_queue_line():
    from fedspawner.client import output, view

    line = [waiting("a", created="2026-12-07T09:00:00Z"), waiting("b")]
    queue = queues.queue_view(line[1], line, "training")
    queued = {"id": "j-1", "name": "x", "kind": "job", "cluster": "training", "phase": "Pending",
              "message": queue["text"], "queue": queue, "history": []}
    assert view.queue_text(queued) == ("queued in team on training, position 2 of 2: waiting for quota "
                                       "(needs 3 cpu, 1 cpu more than is free)")
    assert view.message_html(queued).count("position 2 of 2") == 1  # the message already says it
    running = {**queued, "phase": "Running", "message": "2 pod(s) running on training",
               "queue": queues.queue_view(workload("b", conditions=ADMITTED), line, "training")}
    assert "admitted by queue team on training" in view.message_html(running)
    html, text = output.jobs_table([queued, {**queued, "id": "j-2", "queue": None}])
    assert text.splitlines()[0].endswith("queue") and "position 2 of 2" in text.splitlines()[1]
    assert "queue" not in output.jobs_table([{**queued, "queue": None}])[1].splitlines()[0]


def test_a_dry_run_reads_as_where_and_why():
    from fedspawner.client.args import parse_submit
    from fedspawner.client.output import plan_text

    assert parse_submit("job --nodes 2 --dry-run").dry_run is True
    assert parse_submit("job --nodes 2").dry_run is False
    plan = {"cluster": "analytics", "candidates": [
        {"cluster": "training", "reason": "training: 16 cpu free (pack)", "queue": None, "queue_reason": None,
         "refused": "queue team on training: the queue is stopped by the cluster's admins (Hold)"},
        {"cluster": "analytics", "reason": "analytics: 16 cpu free (pack)", "queue": "research",
         "queue_reason": "queue research on analytics: 0 ahead (its quota is not visible to the hub: up to "
                         "the cluster's capacity)", "refused": None}]}
    assert plan_text(plan).splitlines() == [
        "Would go to analytics (dry run: nothing was created).",
        "1. training: would refuse it: queue team on training: the queue is stopped by the cluster's admins (Hold)",
        "2. analytics: analytics: 16 cpu free (pack); queue research on analytics: 0 ahead (its quota is not "
        "visible to the hub: up to the cluster's capacity)"]


def test_kueue_down_is_told_from_other_refusals():
    from kubernetes_asyncio.client.rest import ApiException

    from fedspawner.gateway.queueing import webhook_failure

    down = ApiException(status=500, reason="Internal Server Error")
    down.body = ('{"message":"Internal error occurred: failed calling webhook \\"mjob.kb.io\\": failed to call '
                 'webhook: Post \\"https://127.0.0.1:23234/mutate-batch-v1-job\\": connect: connection refused"}')
    assert webhook_failure(down, "training").startswith("Kueue on training is not answering")
    quota = ApiException(status=403, reason="Forbidden")
    quota.body = '{"message":"exceeded quota: compute"}'
    assert webhook_failure(quota, "training") is None
