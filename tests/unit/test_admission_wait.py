"""Predicted time to admission in a Kueue queue (``federation.admission``), from recent admissions."""

from __future__ import annotations

from fedspawner.federation import admission, queues
from fedspawner.federation.budgets import Holding, budget_view, with_queued
from fedspawner.gateway.hedging import HEDGE_GATE, gate, gated


def workload(name: str, created: str, admitted: str | None = None, queue: str = "team") -> dict:
    conds = [{"type": "Admitted", "status": "True", "lastTransitionTime": admitted}] if admitted else []
    return {"metadata": {"name": name, "uid": f"uid-{name}", "creationTimestamp": created},
            "spec": {"queueName": queue}, "status": {"conditions": conds}}


def seen(*pairs: tuple[int, int]) -> list[admission.Admission]:
    """Admissions created at second ``c`` and admitted at second ``a`` of a minute."""
    return [admission.Admission(f"w{i}", "team", float(c), float(a)) for i, (c, a) in enumerate(pairs)]


def test_an_admission_is_read_from_the_workloads_conditions():
    got = admission.admission_of(workload("a", "2026-12-07T10:00:00Z", "2026-12-07T10:00:12Z"))
    assert got.wait == 12.0 and got.queue == "team" and got.uid == "uid-a"
    assert admission.admission_of(workload("b", "2026-12-07T10:00:00Z")) is None


def test_history_keeps_each_admission_once_and_only_the_newest():
    known = seen((0, 5), (0, 10))
    merged = admission.merge(known, [*known, admission.Admission("new", "team", 0.0, 20.0)], keep=2)
    assert [a.uid for a in merged] == ["w1", "new"]


def test_nobody_ahead_waits_about_as_long_as_recent_admissions():
    got = admission.predict_wait(seen((0, 2), (10, 14), (20, 23)), ahead=0, fits_now=True)
    assert got.seconds == 3.0 and "nobody ahead" in got.basis
    assert admission.predict_wait([], 0, True).seconds == 0.0
    unknown = admission.predict_wait([], 0, None)
    assert unknown.seconds is None and unknown.sort_key() == 0.0  # an idle queue ranks as one with no wait


def test_each_workload_ahead_waits_for_one_admission_slot():
    recent = seen((0, 10), (0, 30), (0, 50))  # one admission every 20 s
    assert admission.predict_wait(recent, ahead=2, fits_now=True).seconds == 40.0
    full = admission.predict_wait(recent, ahead=2, fits_now=False)
    assert full.seconds == 60.0 and full.words() == (
        "predicted wait ~60 s (2 ahead, quota full; one admission every ~20 s recently)")
    assert admission.predict_wait(recent[:1], ahead=1, fits_now=None).seconds == 10.0


def test_a_wait_with_nothing_to_go_by_is_unknown_and_sorts_last():
    got = admission.predict_wait([], ahead=3, fits_now=None)
    assert got.seconds is None and got.words() == "wait unknown (3 ahead; no recent admissions to go by)"
    assert got.sort_key() > admission.predict_wait(seen((0, 3600), (0, 7200)), 3, False).sort_key()
    assert admission.WaitPrediction(7200.0, "x").words() == "predicted wait ~2.0 h (x)"


def test_a_queued_line_carries_the_prediction():
    view = {"name": "team", "cluster": "training", "state": "queued", "position": 2, "pending": 3,
            "reason": "waiting for quota", "predicted": "predicted wait ~40 s (1 ahead)"}
    assert queues.queue_line(view) == ("queued in team on training, position 2 of 3: waiting for quota; "
                                       "predicted wait ~40 s (1 ahead)")


def test_a_workload_waiting_past_its_window_is_overdue():
    pending = workload("p", "2026-12-07T10:00:00Z")
    start = queues.epoch("2026-12-07T10:00:00Z")
    assert queues.overdue(pending, 60, start + 61) == 61
    assert queues.overdue(pending, 60, start + 30) is None
    assert queues.overdue(pending, 0, start + 3600) is None  # no window
    done = workload("d", "2026-12-07T10:00:00Z", "2026-12-07T10:00:01Z")
    done["status"]["conditions"].append({"type": "QuotaReserved", "status": "True"})
    assert queues.overdue(done, 60, start + 3600) is None


def test_queued_gpus_are_reported_apart_from_the_budget_in_use():
    view = budget_view(4, [Holding("onprem", "server", 2)])
    both = with_queued(view, [Holding("training", "job big", 2), Holding("analytics", "job cpu", 0)])
    assert both["used"] == 2 and both["remaining"] == 2 and both["queued"] == 2
    assert both["queued_holdings"] == [{"cluster": "training", "what": "job big", "gpus": 2}]
    assert both["summary"].endswith("; 2 more GPUs queued, not counted until admitted: 2 on training (job big)")
    assert with_queued(view, [])["summary"] == view["summary"]


def test_a_hedged_copy_holds_its_pods_back_with_a_gate():
    objects = [{"kind": "ConfigMap", "metadata": {"name": "a"}},
               {"kind": "Job", "metadata": {"name": "j"}, "spec": {"template": {"spec": {"containers": []}}}}]
    assert gate(objects)
    pod_spec = objects[1]["spec"]["template"]["spec"]
    assert pod_spec["schedulingGates"] == [{"name": HEDGE_GATE}]
    assert objects[0]["metadata"]["annotations"]["fedspawner.dev/hedge"] == "pending"
    assert gated({"spec": {"schedulingGates": [{"name": "other"}, {"name": HEDGE_GATE}]}}) == [{"name": "other"}]
    assert gated({"spec": {}}) is None
    assert not gate([{"kind": "ConfigMap", "metadata": {}}, {"kind": "JobSet", "metadata": {}, "spec": {}}])


def test_a_workloads_gpus_are_summed_over_its_pod_sets():
    wl = {"spec": {"podSets": [{"count": 2, "template": {"spec": {"containers": [
        {"resources": {"requests": {"cpu": "1", "nvidia.com/gpu": "2"}}}]}}}]}}
    assert queues.gpus_requested(wl) == 4
