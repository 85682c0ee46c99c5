"""Hedged starts: which clusters race, how the standby pod is judged, what is a leftover."""

from fedspawner.federation.model import Candidate
from fedspawner.spawner import hedge


def cand(name):
    return Candidate(cluster=name, gpu_type=None, score=1.0, reason=f"{name}: fits")


def test_profile_setting_overrides_the_admin_default():
    assert hedge.hedge_enabled({"hedge": True}, False)
    assert not hedge.hedge_enabled({"hedge": False}, True)
    assert hedge.hedge_enabled({}, True) and not hedge.hedge_enabled(None, False)


def test_why_not_hedged_names_the_first_obstacle():
    ok = dict(explicit_cluster=False, candidates=2, storage=False, exposed=False)
    assert hedge.why_not_hedged(**ok) == ""
    assert "explicitly" in hedge.why_not_hedged(**{**ok, "explicit_cluster": True})
    assert "only one" in hedge.why_not_hedged(**{**ok, "candidates": 1})
    assert "persistent volume" in hedge.why_not_hedged(**{**ok, "storage": True})
    assert "Service" in hedge.why_not_hedged(**{**ok, "exposed": True})


def test_pair_is_the_best_two_skipping_ingress_clusters():
    a, b, c = cand("a"), cand("b"), cand("c")
    assert hedge.hedge_pair([a, b, c], {}) == (a, b)
    assert hedge.hedge_pair([a, b, c], {"b": False, "c": True}) == (a, c)
    assert hedge.hedge_pair([a, b], {"a": False}) is None
    assert hedge.hedge_pair([a], {}) is None
    assert hedge.hedge_pair([a, b], {"b": False}) is None


def pod(phase="Pending", ready=False, ip="127.1.0.5", waiting=None, deleting=False, uid="u1"):
    status = {"phase": phase, "podIP": ip if phase == "Running" else None,
              "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    if waiting:
        status["containerStatuses"] = [{"state": {"waiting": {"reason": waiting}}}]
    meta = {"name": "jupyter-u", "uid": uid}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": meta, "status": status}


def test_pod_outcome():
    assert hedge.pod_outcome(pod("Running", ready=True)) == (hedge.READY, "")
    assert hedge.pod_outcome(pod("Running", ready=False))[0] == hedge.PENDING
    assert hedge.pod_outcome(pod())[0] == hedge.PENDING
    assert hedge.pod_outcome(None)[0] == hedge.FAILED
    assert hedge.pod_outcome(pod("Running", ready=True, deleting=True))[0] == hedge.FAILED
    assert hedge.pod_outcome(pod("Failed"))[0] == hedge.FAILED
    state, reason = hedge.pod_outcome(pod(waiting="ImagePullBackOff"))
    assert state == hedge.FAILED and "image" in reason
    full = {"reason": "FailedScheduling", "message": "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."}
    state, reason = hedge.pod_outcome(pod(), [full])
    assert state == hedge.FAILED and "nvidia.com/gpu" in reason
    assert hedge.pod_outcome(pod(), [{"reason": "Scheduled", "message": "ok"}])[0] == hedge.PENDING
