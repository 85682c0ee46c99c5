"""Placement: eligibility reasons, explicit choice, gangs, any-type, and every scoring rule."""

from __future__ import annotations

import random

import pytest

from fedspawner.federation import placement
from fedspawner.federation.aggregate import cpu_memory_frontier, gpu_availability
from fedspawner.federation.model import (
    POLICY_PACK, POLICY_SPREAD, SOURCE_DECLARED, SOURCE_QUOTA, ClusterSnapshot, GpuAvailability,
    InventorySnapshot, PlacementRequest,
)
from fedspawner.federation.placement import place

GIB = 2**30
A100 = "nvidia-a100-40gb"
H100 = "nvidia-h100-80gb"
L4 = "nvidia-l4"
T4 = "nvidia-t4"
DISPLAY = {A100: "NVIDIA A100 40GB", H100: "NVIDIA H100 80GB", L4: "NVIDIA L4", T4: "NVIDIA T4"}
NOW = 1_000_000.0


def exact(gpu_type: str, nodes: list[int], per_node: int | None = None) -> GpuAvailability:
    """Exact availability, as the inventory aggregates it, from the free GPUs on each node (each
    node has ``per_node``, default the max)."""
    size = per_node if per_node is not None else max(nodes, default=0)
    return gpu_availability(gpu_type, DISPLAY[gpu_type], "nvidia.com/gpu",
                            [(size, size - free, True) for free in nodes])


def bound(gpu_type: str, up_to: int, source: str = SOURCE_QUOTA) -> GpuAvailability:
    """An upper bound, as the inventory gives it for a cluster whose nodes it cannot see."""
    return GpuAvailability(gpu_type, DISPLAY[gpu_type], "nvidia.com/gpu", total=None, free=None,
                           free_upper_bound=up_to, largest_free_on_one_node=None, max_per_node=None,
                           source=source)


def unseen(gpu_type: str) -> GpuAvailability:
    return GpuAvailability(gpu_type, DISPLAY[gpu_type], "nvidia.com/gpu", None, None, None, None, None,
                           source="unknown")


def cluster(name: str, *gpus: GpuAvailability, **kwargs) -> ClusterSnapshot:
    return ClusterSnapshot(name=name, display_name=name.title(), gpus={g.gpu_type: g for g in gpus}, **kwargs)


def snap(*clusters: ClusterSnapshot) -> InventorySnapshot:
    return InventorySnapshot(clusters=clusters, taken_at=NOW)


def gpu(gpu_type: str = A100, count: int = 1, **kwargs) -> PlacementRequest:
    return PlacementRequest(gpu_type=gpu_type, gpu_count=count, **kwargs)


def decide(request: PlacementRequest, *clusters: ClusterSnapshot):
    return place(request, snap(*clusters), now=NOW)


def names(decision) -> list[str]:
    return [c.cluster for c in decision.candidates]


def why(decision, name: str) -> str:
    found = [r.reason for r in decision.rejected if r.cluster == name]
    assert len(found) == 1, (name, decision.explain())
    return found[0]


# --- eligibility ------------------------------------------------------------------------------------

def test_typed_request_reason_is_short_and_in_researchers_words():
    d = decide(gpu(count=2), cluster("onprem", exact(A100, [4, 2, 0, 0])))
    assert d.candidates[0].reason == "onprem: 6 × NVIDIA A100 40GB free — tightest fit (pack)"
    assert d.candidates[0].gpu_type == A100
    assert d.rejected == ()


def test_unhealthy_cluster_is_rejected_with_its_health_reason():
    d = decide(gpu(), cluster("onprem", exact(A100, [4]), healthy=False,
                              health_reason="apiserver unreachable for 12 s"),
               cluster("quiet", exact(A100, [4]), healthy=False))
    assert names(d) == []
    assert why(d, "onprem") == "onprem: unavailable — apiserver unreachable for 12 s"
    assert why(d, "quiet") == "quiet: unavailable"


def test_groups_restrict_clusters():
    clusters = (cluster("physics", exact(A100, [4]), allowed_groups=frozenset({"physics"})),
                cluster("shared", exact(A100, [4]), allowed_groups=frozenset({"bio", "chem"})),
                cluster("nobody", exact(A100, [4]), allowed_groups=frozenset()),
                cluster("open", exact(A100, [4])))
    d = decide(gpu(groups=frozenset({"bio"})), *clusters)
    assert sorted(names(d)) == ["open", "shared"]
    assert why(d, "physics") == "physics: only for group physics; you are not a member"
    assert why(d, "nobody") == "nobody: open to no group"
    d = decide(gpu(groups=frozenset({"astro"})), *clusters)
    assert why(d, "shared") == "shared: only for groups bio, chem; you are in none of them"
    assert names(d) == ["open"]


def test_allowed_clusters_restrict_clusters():
    clusters = tuple(cluster(n, exact(A100, [4])) for n in "abc")
    d = decide(gpu(allowed_clusters=("a", "c")), *clusters)
    assert sorted(names(d)) == ["a", "c"]
    assert why(d, "b") == "b: not among the clusters allowed here (a, c)"
    assert names(decide(gpu(allowed_clusters=()), *clusters)) == []
    assert len(names(decide(gpu(allowed_clusters=None), *clusters))) == 3


def test_missing_gpu_type_names_what_the_cluster_has():
    d = decide(gpu(L4), cluster("burst", exact(H100, [8])),
               cluster("cpu", cpu_memory_free=((8000, 32 * GIB),)), cluster("edge", exact(L4, [1])))
    assert why(d, "burst") == "burst: no NVIDIA L4 here (has NVIDIA H100 80GB)"
    assert why(d, "cpu") == "cpu: no NVIDIA L4 here (has no GPUs)"
    assert names(d) == ["edge"]


def test_missing_gpu_type_display_comes_from_catalog_when_no_cluster_has_it():
    d = decide(gpu(L4), cluster("burst", exact(H100, [8]), exact(A100, [4])))
    assert why(d, "burst") == "burst: no NVIDIA L4 here (has NVIDIA A100 40GB, NVIDIA H100 80GB)"
    d = decide(gpu("acme-zz9"), cluster("burst", exact(H100, [8])))  # well-formed, not in the catalog
    assert why(d, "burst") == "burst: no Acme ZZ9 here (has NVIDIA H100 80GB)"
    for raw in ("Not a GPU!", "a100"):  # does not parse, is ambiguous: said as given
        d = decide(gpu(raw), cluster("burst", exact(H100, [8])))
        assert why(d, "burst") == f"burst: no {raw} here (has NVIDIA H100 80GB)"


def test_count_above_largest_node_is_rejected_unless_multi_node():
    clusters = (cluster("onprem", exact(A100, [4, 4, 4])),)
    d = decide(gpu(count=8), *clusters)
    assert why(d, "onprem") == "onprem: asks 8 GPUs per server; the largest NVIDIA A100 40GB node here has 4"
    d = decide(gpu(count=8, allow_multi_node=True), *clusters)
    assert names(d) == ["onprem"]
    d = decide(gpu(count=16, allow_multi_node=True), *clusters)
    assert why(d, "onprem") == "onprem: only 12 × NVIDIA A100 40GB free now; asks 16"


def test_exact_numbers_nothing_free_now():
    d = decide(gpu(count=2), cluster("none", exact(A100, [0, 0], per_node=4)),
               cluster("few", exact(A100, [1, 0], per_node=4)),
               cluster("split", exact(A100, [1, 1, 1], per_node=4)), cluster("ok", exact(A100, [2])))
    assert why(d, "none") == "none: no NVIDIA A100 40GB free now"
    assert why(d, "few") == "few: only 1 × NVIDIA A100 40GB free now; asks 2"
    assert why(d, "split") == "split: 3 × NVIDIA A100 40GB free, but at most 1 on one node; asks 2"
    assert names(d) == ["ok"]


def test_upper_bound_is_a_less_certain_candidate():
    d = decide(gpu(count=2), cluster("quota", bound(A100, 4)),
               cluster("declared", bound(A100, 8, SOURCE_DECLARED)), cluster("short", bound(A100, 1)))
    assert why(d, "short") == "short: at most 1 × NVIDIA A100 40GB free (from quota); asks 2"
    reasons = {c.cluster: c.reason for c in d.candidates}
    assert reasons["quota"] == "quota: up to 4 × NVIDIA A100 40GB free, from quota — not certain"
    assert reasons["declared"] == ("declared: up to 8 × NVIDIA A100 40GB free, from declared capacity"
                                   " — not certain")


def test_exact_numbers_beat_upper_bounds_and_bounds_beat_unseen():
    for policy in (POLICY_PACK, POLICY_SPREAD):
        d = decide(gpu(policy=policy), cluster("quota", bound(A100, 64)), cluster("unseen", unseen(A100)),
                   cluster("exact", exact(A100, [1, 0])), cluster("roomy", exact(A100, [8] * 8)))
        assert set(names(d)[:2]) == {"exact", "roomy"}
        assert names(d)[2:] == ["quota", "unseen"]
        assert d.candidates[3].reason == "unseen: has NVIDIA A100 40GB; free count not visible — not certain"


def test_cpu_and_memory_must_fit_on_a_visible_node():
    nodes = ((8000, 32 * GIB), (4000, 64 * GIB))
    clusters = (cluster("onprem", exact(A100, [4]), cpu_memory_free=nodes), cluster("ns", bound(A100, 4)))
    d = decide(gpu(cpu_milli=8000, memory_bytes=64 * GIB), *clusters)
    assert why(d, "onprem") == "onprem: no node has 8 CPUs and 64 GiB free now (the roomiest: 8 CPUs, 32 GiB)"
    assert names(d) == ["ns"]  # not visible: not checked
    assert len(names(decide(gpu(cpu_milli=4000, memory_bytes=64 * GIB), *clusters))) == 2
    d = decide(gpu(cpu_milli=16500), *clusters)
    assert why(d, "onprem") == "onprem: no node has 16.5 CPUs free now (the roomiest: 8 CPUs, 32 GiB)"
    d = decide(gpu(memory_bytes=512 * 2**20 + 128 * GIB), *clusters)
    assert "no node has 128.5 GiB free now" in why(d, "onprem")


def test_every_cluster_is_accounted_for_once():
    clusters = (cluster("a", exact(A100, [4])), cluster("b", healthy=False), cluster("c", exact(H100, [2])),
                cluster("d", bound(A100, 1)))
    d = decide(gpu(count=2), *clusters)
    assert sorted(names(d) + [r.cluster for r in d.rejected]) == ["a", "b", "c", "d"]
    assert d.explain().splitlines()[0] == "1. a: 4 × NVIDIA A100 40GB free — tightest fit (pack)"
    assert d.explain().count("✗") == 3


# --- explicit choice --------------------------------------------------------------------------------

def test_explicit_cluster_is_the_only_candidate_when_eligible():
    clusters = (cluster("best", exact(A100, [2])), cluster("mine", bound(A100, 8)),
                cluster("down", healthy=False))
    d = decide(gpu(explicit_cluster="mine"), *clusters)
    assert names(d) == ["mine"]
    assert why(d, "best") == "best: you chose mine"
    assert why(d, "down") == "down: you chose mine"


def test_explicit_cluster_that_is_not_eligible_explains_first():
    clusters = (cluster("best", exact(A100, [2])), cluster("mine", exact(A100, [0, 0], per_node=4)))
    d = decide(gpu(explicit_cluster="mine"), *clusters)
    assert d.candidates == ()
    assert d.rejected[0].cluster == "mine"
    assert d.rejected[0].reason == "mine: no NVIDIA A100 40GB free now"
    assert why(d, "best") == "best: you chose mine"
    d = decide(gpu(explicit_cluster="mine", groups=frozenset({"x"})),
               cluster("mine", exact(A100, [2]), allowed_groups=frozenset({"y"})))
    assert d.candidates == () and "only for group y" in d.rejected[0].reason
    d = decide(gpu(explicit_cluster="mine", allowed_clusters=("best",)), *clusters)
    assert d.candidates == () and d.rejected[0].reason.startswith("mine: not among the clusters allowed")
    d = decide(gpu(explicit_cluster="mine"),
               cluster("mine", exact(A100, [2]), healthy=False, health_reason="x"))
    assert d.candidates == () and d.rejected[0].reason == "mine: unavailable — x"


def test_explicit_cluster_unknown_to_the_federation():
    d = decide(gpu(explicit_cluster="nowhere"), cluster("a", exact(A100, [2])))
    assert d.candidates == ()
    assert d.rejected[0].reason == "nowhere: no cluster of that name in this federation"
    assert why(d, "a") == "a: you chose nowhere"


def test_explicit_choice_is_not_overridden_by_scoring():
    d = decide(gpu(explicit_cluster="far", locality={"site": "here"}, preferred_clusters=("near",)),
               cluster("near", exact(A100, [1]), labels={"site": "here"}), cluster("far", unseen(A100)))
    assert names(d) == ["far"]


# --- gangs --------------------------------------------------------------------------------------------

def test_gang_needs_total_and_enough_nodes():
    d = decide(gpu(count=2, pods=4),
               cluster("short", exact(A100, [4, 2])),
               cluster("thin", exact(A100, [1, 1, 1, 1, 1, 1, 1, 1, 2, 2], per_node=4)),
               cluster("ok", exact(A100, [4, 3, 1, 2], per_node=4)))
    assert why(d, "short") == "short: only 6 × NVIDIA A100 40GB free now; the job needs 4 workers × 2 = 8"
    assert why(d, "thin") == ("thin: 12 × NVIDIA A100 40GB free, but spread too thin: only 2 of 4 workers "
                              "× 2 fit on its nodes")
    assert names(d) == ["ok"]
    assert d.candidates[0].reason.startswith("ok: 10 × NVIDIA A100 40GB free, room for 4 workers × 2")


def test_gang_per_pod_count_above_node_size():
    d = decide(gpu(count=8, pods=2), cluster("small", exact(A100, [4, 4, 4, 4])))
    assert why(d, "small") == "small: asks 8 GPUs per worker; the largest NVIDIA A100 40GB node here has 4"


def test_gang_with_multi_node_only_needs_the_total():
    d = decide(gpu(count=2, pods=4, allow_multi_node=True), cluster("thin", exact(A100, [1] * 8, per_node=4)))
    assert names(d) == ["thin"]


def test_gang_on_upper_bound_needs_the_total_under_the_bound():
    clusters = (cluster("q", bound(A100, 8)),)
    assert names(decide(gpu(count=2, pods=4), *clusters)) == ["q"]
    d = decide(gpu(count=2, pods=5), *clusters)
    assert why(d, "q") == ("q: at most 8 × NVIDIA A100 40GB free (from quota); "
                           "the job needs 5 workers × 2 = 10")


# --- any type -------------------------------------------------------------------------------------

def test_any_type_picks_the_best_type_per_cluster():
    d = decide(gpu("any", 2), cluster("mixed", exact(A100, [8, 8]), exact(T4, [2]), exact(L4, [0])),
               cluster("h", exact(H100, [4])))
    by = {c.cluster: c for c in d.candidates}
    assert by["mixed"].gpu_type == T4  # pack: leaves nothing free
    assert by["mixed"].reason == "mixed: 2 × NVIDIA T4 free — tightest fit (pack)"
    assert by["h"].gpu_type == H100
    d = decide(gpu("any", 2, policy=POLICY_SPREAD), cluster("mixed", exact(A100, [8, 8]), exact(T4, [2])))
    assert d.candidates[0].gpu_type == A100


def test_any_type_prefers_exact_types_and_avoids_recently_full_types():
    c = cluster("mixed", exact(A100, [4]), bound(H100, 8), recently_full={A100: NOW - 5})
    d = decide(gpu("any", 1), c)
    assert d.candidates[0].gpu_type == H100
    d = decide(gpu("any", 1), cluster("mixed", exact(A100, [4]), bound(H100, 8)))
    assert d.candidates[0].gpu_type == A100


def test_any_type_rejections_list_each_type():
    d = decide(gpu("any", 4), cluster("mixed", exact(A100, [2, 2], per_node=4), exact(T4, [2], per_node=2)),
               cluster("one", exact(L4, [0], per_node=4)), cluster("cpu"))
    assert why(d, "mixed") == ("mixed: no GPU type fits: 4 × NVIDIA A100 40GB free, but at most 2 on one "
                               "node; asks 4 · asks 4 GPUs per server; the largest NVIDIA T4 node here has 2")
    assert why(d, "one") == "one: no NVIDIA L4 free now"
    assert why(d, "cpu") == "cpu: no GPUs here"


def test_any_type_tie_is_broken_by_type_name():
    d = decide(gpu("any", 1), cluster("twins", exact(T4, [2]), exact(L4, [2])))
    assert d.candidates[0].gpu_type == L4
    d = decide(gpu("any", 1), cluster("twins", exact(L4, [2]), exact(T4, [2])))
    assert d.candidates[0].gpu_type == L4


# --- scoring --------------------------------------------------------------------------------------

def test_pack_prefers_the_tightest_fit_and_spread_the_most_room():
    clusters = (cluster("roomy", exact(A100, [8, 8, 8])), cluster("tight", exact(A100, [2, 1])),
                cluster("middle", exact(A100, [4, 4])))
    d = decide(gpu(count=2), *clusters)
    assert names(d) == ["tight", "middle", "roomy"]
    assert d.candidates[0].reason == "tight: 3 × NVIDIA A100 40GB free — tightest fit (pack)"
    assert d.candidates[1].reason == "middle: 8 × NVIDIA A100 40GB free — leaves 6 free (pack)"
    d = decide(gpu(count=2, policy=POLICY_SPREAD), *clusters)
    assert names(d) == ["roomy", "middle", "tight"]
    assert d.candidates[0].reason == "roomy: 24 × NVIDIA A100 40GB free — most room (spread)"
    assert d.candidates[2].reason == "tight: 3 × NVIDIA A100 40GB free — leaves 1 free (spread)"
    assert [c.score for c in d.candidates] == sorted((c.score for c in d.candidates), reverse=True)


def test_cost_weight_lowers_the_score():
    clusters = (cluster("dear", exact(A100, [4]), cost_weight=3.0),
                cluster("cheap", exact(A100, [4]), cost_weight=0.5), cluster("plain", exact(A100, [4])))
    d = decide(gpu(), *clusters)
    assert names(d) == ["cheap", "plain", "dear"]
    reasons = [c.reason for c in d.candidates]
    assert reasons[0].endswith("; lowest cost (×0.5)")
    assert reasons[1].endswith("; dearer (cost ×1, 2× the cheapest)")
    assert reasons[2].endswith("; dearer (cost ×3, 6× the cheapest)")
    # equal weights: nothing to say about cost
    d = decide(gpu(), cluster("a", exact(A100, [4]), cost_weight=2.0), cluster("b", exact(A100, [4]), cost_weight=2.0))
    assert all("cost" not in c.reason for c in d.candidates)
    # a large price difference outweighs a better fit
    d = decide(gpu(), cluster("tight", exact(A100, [1]), cost_weight=4.0), cluster("loose", exact(A100, [8])))
    assert names(d) == ["loose", "tight"]


def test_cpu_work_stays_on_prem_until_full_then_bursts_to_the_dearer_cloud():
    """The demo's story: on-prem (big CPU nodes, weight 1) before the cloud (small nodes, weight 3),
    although the cloud's small node is the tighter fit; the cloud once on-prem has no room."""
    notebook = PlacementRequest(gpu_type=None, gpu_count=0, cpu_milli=500, memory_bytes=GIB)
    burst = cluster("burst", cpu_memory_free=((8000, 32 * GIB),), cpu_only_free=((8000, 32 * GIB),), cost_weight=3.0)
    onprem = cluster("onprem", cpu_memory_free=((64000, 512 * GIB), (32000, 128 * GIB)),
                     cpu_only_free=((32000, 128 * GIB),))
    d = decide(notebook, onprem, burst)
    assert names(d) == ["onprem", "burst"]
    assert d.candidates[0].reason.endswith("; lowest cost (×1)")
    assert d.candidates[1].reason.endswith("tightest fit (pack); dearer (cost ×3, 3× the cheapest)")
    full = cluster("onprem", cpu_memory_free=((200, GIB // 2),), cpu_only_free=((100, GIB // 4),))
    d = decide(notebook, full, burst)
    assert names(d) == ["burst"] and "no node has 0.5 CPUs and 1 GiB free now" in why(d, "onprem")


def test_locality_labels_add_a_strong_bonus():
    clusters = (cluster("tight", exact(A100, [1])),
                cluster("data", bound(A100, 8), labels={"dataset": "cms", "region": "eu"}, cost_weight=2.0),
                cluster("region", exact(A100, [8]), labels={"region": "eu", "dataset": "atlas"}))
    d = decide(gpu(locality={"dataset": "cms", "region": "eu"}), *clusters)
    assert names(d) == ["data", "region", "tight"]
    assert d.candidates[0].reason == ("data: up to 8 × NVIDIA A100 40GB free, from quota — near your data: "
                                      "dataset=cms, region=eu; not certain; dearer (cost ×2, 2× the cheapest)")
    assert "near your data: region=eu" in d.candidates[1].reason


def test_preferred_clusters_in_order():
    clusters = tuple(cluster(n, exact(A100, [4])) for n in "abc")
    d = decide(gpu(preferred_clusters=("c", "b")), *clusters)
    assert names(d) == ["c", "b", "a"]
    assert d.candidates[0].reason.endswith("; preference #1")
    assert d.candidates[1].reason.endswith("; preference #2")
    d = decide(gpu(preferred_clusters=("b",)), *clusters)
    assert names(d)[0] == "b" and d.candidates[0].reason.endswith("; preferred")
    # a preference outweighs a better fit, but not exact numbers against an upper bound
    d = decide(gpu(preferred_clusters=("loose",)), cluster("tight", exact(A100, [1])),
               cluster("loose", exact(A100, [8])))
    assert names(d) == ["loose", "tight"]
    d = decide(gpu(preferred_clusters=("q",)), cluster("q", bound(A100, 8)), cluster("e", exact(A100, [8])))
    assert names(d) == ["e", "q"]


def test_recently_full_type_is_penalised_for_60_seconds():
    def run(age: float):
        return decide(gpu(), cluster("full", exact(A100, [1]), recently_full={A100: NOW - age}),
                      cluster("other", exact(A100, [6])))
    d = run(20)
    assert names(d) == ["other", "full"]
    assert d.candidates[1].reason.endswith("; reported full 20 s ago")
    assert names(run(59.9)) == ["other", "full"]
    d = run(61)
    assert names(d) == ["full", "other"] and "reported full" not in d.candidates[0].reason
    # a report of another type does not matter
    d = decide(gpu(), cluster("full", exact(A100, [1]), recently_full={H100: NOW}),
               cluster("other", exact(A100, [6])))
    assert names(d) == ["full", "other"]
    # just reported full drops below clusters with only an upper bound
    d = decide(gpu(), cluster("full", exact(A100, [1]), recently_full={A100: NOW}),
               cluster("q", bound(A100, 2)))
    assert names(d) == ["q", "full"]


def test_clock_is_read_only_when_needed(monkeypatch):
    def boom():
        raise AssertionError("clock read")
    monkeypatch.setattr(placement.time, "time", boom)
    s = snap(cluster("a", exact(A100, [2])))
    assert names(place(gpu(), s)) == ["a"]
    monkeypatch.setattr(placement.time, "time", lambda: NOW + 10)
    s = snap(cluster("full", exact(A100, [1]), recently_full={A100: NOW}), cluster("other", exact(A100, [6])))
    d = place(gpu(), s)
    assert names(d) == ["other", "full"] and "reported full 10 s ago" in d.candidates[1].reason


def test_ties_are_broken_by_name_whatever_the_snapshot_order():
    clusters = [cluster(n, exact(A100, [4])) for n in ("delta", "alpha", "charlie", "bravo")]
    for order in (clusters, clusters[::-1]):
        d = decide(gpu(), *order)
        assert names(d) == ["alpha", "bravo", "charlie", "delta"]


def test_decisions_are_deterministic():
    rng = random.Random(3)
    clusters = [cluster(f"c{i}", exact(A100, [rng.randint(0, 8) for _ in range(6)], per_node=8),
                        exact(T4, [rng.randint(0, 4) for _ in range(4)], per_node=4),
                        cost_weight=rng.choice([0.5, 1.0, 2.0])) for i in range(8)]
    for request in (gpu(count=2), gpu("any", 1), gpu(T4, 1, pods=3), PlacementRequest(cpu_milli=1000)):
        first = decide(request, *clusters)
        assert all(decide(request, *clusters) == first for _ in range(3))
        assert decide(request, *reversed(clusters)).candidates == first.candidates


# --- CPU-only -------------------------------------------------------------------------------------

def test_cpu_only_ranks_by_fit_and_policy():
    clusters = (cluster("big", cpu_memory_free=((64000, 256 * GIB), (32000, 128 * GIB))),
                cluster("small", cpu_memory_free=((4000, 16 * GIB), (2000, 8 * GIB))),
                cluster("ns", visibility="namespace"))
    request = PlacementRequest(cpu_milli=2000, memory_bytes=8 * GIB)
    d = decide(request, *clusters)
    assert names(d) == ["small", "big", "ns"]
    assert d.candidates[0].reason == "small: a node with 2 CPUs, 8 GiB free — tightest fit (pack)"
    assert d.candidates[0].gpu_type is None
    assert d.candidates[1].reason == ("big: a node with 32 CPUs, 128 GiB free — "
                                      "leaves 30 CPUs, 120 GiB there (pack)")
    assert d.candidates[2].reason == "ns: capacity not visible — not certain"
    d = decide(PlacementRequest(cpu_milli=2000, memory_bytes=8 * GIB, policy=POLICY_SPREAD), *clusters)
    assert names(d) == ["big", "small", "ns"]
    assert d.candidates[0].reason == "big: a node with 64 CPUs, 256 GiB free — most room (spread)"


def test_cpu_only_rejects_clusters_without_a_fitting_node():
    d = decide(PlacementRequest(cpu_milli=500, memory_bytes=32 * GIB),
               cluster("small", cpu_memory_free=((4000, 16 * GIB),)),
               cluster("ok", cpu_memory_free=((1000, 32 * GIB),)))
    assert why(d, "small") == "small: no node has 0.5 CPUs and 32 GiB free now (the roomiest: 4 CPUs, 16 GiB)"
    assert names(d) == ["ok"]


def test_cpu_only_request_still_honours_access_rules():
    d = decide(PlacementRequest(cpu_milli=1000, groups=frozenset({"a"})),
               cluster("x", cpu_memory_free=((4000, GIB),), allowed_groups=frozenset({"b"})),
               cluster("y", cpu_memory_free=((4000, GIB),), healthy=False, health_reason="down"))
    assert names(d) == []
    assert why(d, "y") == "y: unavailable — down"


# --- edges ----------------------------------------------------------------------------------------

def test_empty_federation():
    d = place(gpu(), InventorySnapshot(clusters=()), now=NOW)
    assert d.candidates == () and d.rejected == () and d.explain() == ""
    d = place(gpu(explicit_cluster="x"), InventorySnapshot(clusters=()), now=NOW)
    assert d.candidates == () and [r.cluster for r in d.rejected] == ["x"]


@pytest.mark.parametrize("request_, message", [
    (PlacementRequest(policy="random"), "unknown placement policy"),
    (PlacementRequest(gpu_type=A100, gpu_count=1, pods=0), "pods must be at least 1"),
    (PlacementRequest(gpu_type=A100, gpu_count=-1), "cannot be negative"),
    (PlacementRequest(cpu_milli=-5), "cannot be negative"),
    (PlacementRequest(gpu_count=2), "without a GPU type"),
    (PlacementRequest(gpu_type=A100), "with no GPUs"),
])
def test_malformed_requests_raise(request_, message):
    with pytest.raises(ValueError, match=message):
        place(request_, snap(), now=NOW)


# --- against a brute-force scan of synthetic nodes -----------------------------------------------

def _nodes_to_snapshot(rng: random.Random, n_clusters: int):
    """Synthetic nodes per cluster, and the exact aggregates the inventory would publish."""
    clusters, nodes_by = [], {}
    for i in range(n_clusters):
        name = f"c{i}"
        nodes = []
        for _ in range(rng.randint(0, 12)):
            gtype = rng.choice([A100, T4, None])
            size = {A100: rng.choice([4, 8]), T4: 2, None: 0}[gtype]
            cpu, memory = rng.randint(0, 16) * 1000, rng.randint(0, 64) * GIB
            nodes.append((gtype, size, rng.randint(0, size), cpu, memory))
        nodes_by[name] = nodes
        gpus = {gtype: gpu_availability(gtype, DISPLAY[gtype], "nvidia.com/gpu",
                                        [(n[1], n[1] - n[2], True) for n in nodes if n[0] == gtype])
                for gtype in {n[0] for n in nodes if n[0]}}
        cpu_mem = cpu_memory_frontier((n[3], n[4]) for n in nodes)
        clusters.append(ClusterSnapshot(name, name, gpus=gpus, cpu_memory_free=cpu_mem))
    return snap(*clusters), nodes_by


def _brute_force_eligible(request: PlacementRequest, nodes: list) -> bool:
    if not nodes:
        return False
    cpu_ok = any(n[3] >= request.cpu_milli and n[4] >= request.memory_bytes for n in nodes)
    if request.gpu_type is None:
        return cpu_ok
    types = {n[0] for n in nodes if n[0]} if request.gpu_type == "any" else {request.gpu_type}
    for gtype in types:
        mine = [n for n in nodes if n[0] == gtype]
        if not mine or request.gpu_count > max(n[1] for n in mine):
            continue
        if sum(n[2] // request.gpu_count for n in mine) >= request.pods:
            return cpu_ok
    return False


def test_matches_a_brute_force_scan_of_synthetic_nodes():
    rng = random.Random(11)
    for _ in range(200):
        snapshot, nodes_by = _nodes_to_snapshot(rng, rng.randint(0, 6))
        gtype = rng.choice([A100, T4, "any", None])
        request = PlacementRequest(gpu_type=gtype, gpu_count=0 if gtype is None else rng.randint(1, 8),
                                   pods=rng.randint(1, 4), cpu_milli=rng.randint(0, 8) * 1000,
                                   memory_bytes=rng.randint(0, 32) * GIB,
                                   policy=rng.choice([POLICY_PACK, POLICY_SPREAD]))
        d = place(request, snapshot, now=NOW)
        expected = {name for name, nodes in nodes_by.items() if _brute_force_eligible(request, nodes)}
        if gtype is None:  # a cluster without nodes shows no capacity: "not visible"
            expected |= {name for name, nodes in nodes_by.items() if not nodes}
        assert set(names(d)) == expected, (request, d.explain())
        assert len(d.candidates) + len(d.rejected) == len(snapshot.clusters)
        scores = [c.score for c in d.candidates]
        assert scores == sorted(scores, reverse=True)
