"""GPU budgets: configuration, a user's limit, what pods hold, and the refusal's words."""

from __future__ import annotations

import pytest

from fedspawner.federation.budgets import (
    BudgetError, GpuBudgets, Holding, budget_view, over_budget, parse_gpu_budgets,
)
from fedspawner.federation.config import Federation, FederationConfigError
from fedspawner.federation.inventory import pod_holding
from fedspawner.federation.model import GPU_TYPE_LABEL


def test_a_users_budget_is_their_own_else_their_best_group_else_the_default():
    budgets = parse_gpu_budgets({"users": {"alice": 8}, "groups": {"students": 1, "gpu-users": 4}, "default": 2})
    assert budgets.limit_for("alice", {"students"}) == 8
    assert budgets.limit_for("bob", {"students", "gpu-users"}) == 4
    assert budgets.limit_for("carol", set()) == 2
    assert parse_gpu_budgets({"groups": {"students": 1}}).limit_for("dave", set()) is None
    assert not parse_gpu_budgets({}).enabled and parse_gpu_budgets({"default": 0}).enabled


@pytest.mark.parametrize("raw, words", [
    ([1], "must be a mapping"),
    ({"user": {}}, "field 'user' is not known"),
    ({"users": {"alice": -1}}, "users.alice must be a whole number"),
    ({"groups": {"x": True}}, "groups.x must be a whole number"),
    ({"users": ["alice"]}, "'users' must map user names"),
    ({"default": "4"}, "default must be a whole number"),
])
def test_bad_budgets_are_refused_naming_the_field(raw, words):
    with pytest.raises(BudgetError, match=words):
        parse_gpu_budgets(raw)


def test_a_bad_budget_stops_the_hub_at_validation(tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("{}")
    federation = Federation(clusters=[{"name": "a", "kubeconfig": str(kubeconfig)}],
                            gpu_budgets={"default": -2})
    with pytest.raises(FederationConfigError, match="Federation.gpu_budgets: default must be a whole number"):
        federation.validate()  # so the hub stops with this one line


HELD = [Holding("onprem", "server", 2), Holding("regional", "job ddp", 1)]


def test_the_refusal_says_what_is_used_where():
    message = over_budget(4, HELD, 2, "the job train")
    assert message == ("The job train asks for 2 GPUs, but you use 3 of your 4 GPUs: 2 on onprem (server), "
                       "1 on regional (job ddp). Stop a server or cancel a job, or ask for at most 1.")
    assert over_budget(4, HELD, 1, "x") is None
    assert "Stop a server or cancel a job first." in over_budget(3, HELD, 1, "this server")
    assert "more than your GPU budget of 2" in over_budget(2, [], 3, "this server")
    assert over_budget(None, HELD, 64, "x") is None and over_budget(0, [], 0, "a CPU server") is None


def test_the_budget_view_for_the_form_and_the_panel():
    view = budget_view(4, [Holding("regional", "job ddp", 1), Holding("onprem", "server", 2)])
    assert view["limit"] == 4 and view["used"] == 3 and view["remaining"] == 1
    assert [h["cluster"] for h in view["holdings"]] == ["onprem", "regional"]
    assert view["summary"] == "1 of your 4 GPUs left (in use: 2 on onprem (server), 1 on regional (job ddp))"
    assert budget_view(None, [])["summary"] == "no GPU budget; you use 0 GPUs"
    assert budget_view(2, [Holding("a", "server", 5)])["remaining"] == 0


def _pod(labels, annotations, gpus="2"):
    limits = {"nvidia.com/gpu": gpus, "cpu": "4", "memory": "8Gi"}
    return {"metadata": {"labels": labels, "annotations": annotations},
            "spec": {"containers": [{"resources": {"limits": limits}}]}}


def test_pods_say_who_holds_their_gpus():
    gpu = {GPU_TYPE_LABEL: "nvidia-a100-40gb"}
    server = _pod(gpu, {"hub.jupyter.org/username": "Alice"})
    named = _pod(gpu, {"hub.jupyter.org/username": "alice", "hub.jupyter.org/servername": "big"}, "4")
    job = _pod({**gpu, "fedspawner.dev/job-name": "ddp-abcdefgh", "fedspawner.dev/job-id": "j-abcdefgh"},
               {"fedspawner.dev/owner-name": "bob"}, "1")
    assert pod_holding(server, "onprem") == ("Alice", Holding("onprem", "server", 2))
    assert pod_holding(named, "onprem") == ("alice", Holding("onprem", "server 'big'", 4))
    assert pod_holding(job, "burst") == ("bob", Holding("burst", "job ddp", 1))
    assert pod_holding(_pod({}, {"hub.jupyter.org/username": "a"}), "x") is None  # no GPU label: a CPU pod
    assert pod_holding(_pod(gpu, {}), "x") is None  # nobody's


def test_budgets_default_to_none():
    assert GpuBudgets().limit_for("anyone") is None


def test_the_launch_form_shows_what_is_left_of_the_budget():
    from fedspawner.spawner.form import render_form_html

    html = render_form_html([], {"clusters": []}, None, "/hub/", budget="1 of your 4 GPUs left")
    assert 'id="fs-gpu-budget"' in html and "Your GPU budget across all clusters: 1 of your 4 GPUs left." in html
    assert 'id="fs-gpu-budget"' not in render_form_html([], {"clusters": []}, None, "/hub/")
