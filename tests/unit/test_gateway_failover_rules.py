"""When a job counts as stuck (fail over) or settled (stop watching) (pure)."""

from __future__ import annotations

from fedspawner.gateway.failover import settled, stuck_reason

from .test_gateway_status import job, objects, pod


def test_an_unschedulable_rank_makes_the_job_stuck():
    stuck = objects([pod("a", index=0), pod("b", "Pending", index=1, node=None,
                                            unschedulable="0/3 nodes are available: 3 Insufficient cpu.")])
    assert stuck_reason(stuck, []) == "no node has enough cpu free now"
    assert not settled(stuck)


def test_taints_and_image_pulls():
    tainted = objects([pod("a", "Pending", index=0, node=None,
                           unschedulable="0/1 nodes are available: 1 node(s) had untolerated taint {x: y}.")])
    assert "tainted" in stuck_reason(tainted, []) and "the job does not tolerate" in stuck_reason(tainted, [])
    pulling = objects([pod("a", "Pending", index=0, waiting="ImagePullBackOff"), pod("b", index=1)])
    assert stuck_reason(pulling, []) == "the job's image cannot be pulled there"


def test_quota_refusals_count_only_while_pods_are_missing():
    event = {"reason": "FailedCreate", "message": 'pods "x" is forbidden: exceeded quota: gpu, requested: '
                                                  "requests.nvidia.com/gpu=4, used: 4, limited: 6"}
    reason = stuck_reason(objects([pod("a", index=0)]), [event])
    assert reason.startswith("its pods are over the namespace quota (gpu, requested")
    assert stuck_reason(objects([pod("a", index=0), pod("b", index=1)]), [event]) is None


def test_settled_once_every_pod_is_scheduled_or_the_job_ended():
    assert settled(objects([pod("a", index=0), pod("b", "Pending", index=1)]))
    assert not settled(objects([pod("a", index=0)]))
    assert settled(objects([], [job([{"type": "Failed", "status": "True"}])]))
    assert stuck_reason(objects([pod("a", index=0), pod("b", index=1)]), []) is None
