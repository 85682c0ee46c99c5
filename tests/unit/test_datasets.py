"""Data locality: dataset declarations, and placement that keeps protected data home."""

from __future__ import annotations

import pytest

from fedspawner.client.args import parse_submit
from fedspawner.federation.config import FederationConfigError, parse_member_cluster
from fedspawner.federation.datasets import parse_datasets, unknown_dataset
from fedspawner.federation.model import ClusterSnapshot, InventorySnapshot
from fedspawner.federation.placement import LOCALITY_POINTS, place
from fedspawner.federation.requests import placement_request
from fedspawner.gateway.errors import BadRequest
from fedspawner.gateway.planning import plan
from fedspawner.jobs import JobSpec, JobSpecError
from fedspawner.spawner import options

GIB = 2**30


def cluster(name: str, datasets=None, **kwargs) -> ClusterSnapshot:
    return ClusterSnapshot(name=name, display_name=name, cpu_memory_free=((16000, 64 * GIB),),
                           datasets=datasets or {}, **kwargs)


SNAP = InventorySnapshot((cluster("onprem", {"cms-run3": True, "imagenet": False}),
                          cluster("regional", {"imagenet": False}), cluster("burst")))


def test_datasets_are_declared_per_cluster(tmp_path):
    assert parse_datasets({"cms-run3": {"protected": True}, "imagenet": {}, "x.v2": None}, "c") == {
        "cms-run3": True, "imagenet": False, "x.v2": False}
    assert parse_datasets(["a", "b"], "c") == {"a": False, "b": False}
    kubeconfig = tmp_path / "kc"
    kubeconfig.write_text("current-context: onprem\ncontexts:\n- name: onprem\n  context: {cluster: c, user: u}\n")
    member = parse_member_cluster(0, {"name": "onprem", "kubeconfig": str(kubeconfig),
                                      "datasets": {"cms-run3": {"protected": True}}})
    assert member.datasets == {"cms-run3": True}
    for bad, words in [({"CMS": {}}, "'CMS' is not a dataset name"), ({"a": {"protected": "yes"}}, "datasets.a"),
                       ({"a": {"private": True}}, "datasets.a"), ("cms", "must map dataset names")]:
        with pytest.raises(FederationConfigError, match=words):
            parse_member_cluster(0, {"name": "onprem", "kubeconfig": str(kubeconfig), "datasets": bad})


def test_protected_data_never_leaves_its_cluster():
    decision = place(placement_request(gpu_type=None, gpu_count=0, dataset="cms-run3"), SNAP, now=0)
    assert [c.cluster for c in decision.candidates] == ["onprem"]
    assert "holds the dataset cms-run3" in decision.candidates[0].reason
    assert {r.reason for r in decision.rejected} == {
        "regional: the dataset cms-run3 is protected and never leaves onprem",
        "burst: the dataset cms-run3 is protected and never leaves onprem"}
    chosen = place(placement_request(gpu_type=None, gpu_count=0, dataset="cms-run3", chosen=["burst"]), SNAP, now=0)
    assert not chosen.candidates and "never leaves onprem" in chosen.rejected[0].reason


def test_unprotected_data_is_preferred_where_it_is_but_may_be_read_elsewhere():
    decision = place(placement_request(gpu_type=None, gpu_count=0, dataset="imagenet"), SNAP, now=0)
    order = [c.cluster for c in decision.candidates]
    assert set(order[:2]) == {"onprem", "regional"} and order[2] == "burst"
    reasons = {c.cluster: c.reason for c in decision.candidates}
    assert "holds the dataset imagenet" in reasons["regional"]
    assert "reads the dataset imagenet from onprem, regional" in reasons["burst"]
    scores = {c.cluster: c.score for c in decision.candidates}
    assert scores["regional"] - scores["burst"] == pytest.approx(LOCALITY_POINTS)


def test_a_dataset_nobody_holds_is_a_clear_error_before_placement():
    assert "The datasets of this federation are: cms-run3, imagenet." in unknown_dataset("cms", SNAP.clusters)
    assert unknown_dataset(None, SNAP.clusters) is None
    spec = JobSpec.from_dict({"kind": "job", "script": "x", "dataset": "cms"})
    with pytest.raises(BadRequest, match="No member cluster holds the dataset 'cms'"):
        plan(spec, SNAP, "alice", frozenset(), None)
    profile = {"slug": "cms", "display_name": "CMS analysis", "dataset": "cms-run-4"}
    with pytest.raises(options.OptionsError, match="'CMS analysis' reads the dataset 'cms-run-4'"):
        options.resolve({"profile": "cms"}, [profile], SNAP, frozenset())


def test_jobs_and_profiles_carry_their_dataset_to_placement():
    spec = JobSpec.from_dict({"kind": "job", "script": "x", "dataset": "cms-run3"})
    assert spec.to_dict()["dataset"] == "cms-run3"
    chosen = plan(spec, SNAP, "alice", frozenset(), None)
    assert chosen.order == ("onprem",) and chosen.request.dataset == "cms-run3"
    with pytest.raises(JobSpecError, match="not a dataset name"):
        JobSpec.from_dict({"kind": "job", "script": "x", "dataset": "CMS Run 3"})
    assert parse_submit("job --dataset cms-run3").options["dataset"] == "cms-run3"
    profile = {"slug": "cms", "dataset": "cms-run3"}
    req = options.resolve({"profile": "cms"}, [profile], SNAP, frozenset())
    placement = options.server_placement(req, SNAP, user="u", groups=frozenset(), cpu_milli=0, memory_bytes=0,
                                         policy="pack")
    assert placement.dataset == "cms-run3"
    assert [c.cluster for c in place(placement, SNAP, now=0).candidates] == ["onprem"]
