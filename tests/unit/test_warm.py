"""Warm GPU slots: declarations, placeholder manifests and bookkeeping (pure parts)."""

import pytest

from fedspawner.federation import warm, warm_slots
from fedspawner.federation.config import Federation, FederationConfigError
from fedspawner.federation.model import GpuScheduling

MEMBERS = {"onprem": object(), "burst": object()}


def test_parse_checks_cluster_gpu_and_counts():
    (slot,) = warm_slots.parse_warm_slots([{"cluster": "onprem", "gpu": "A100 40GB", "count": 2}], MEMBERS)
    assert slot == warm_slots.WarmSlot("onprem", "nvidia-a100-40gb", 2, 1, "")
    with pytest.raises(warm_slots.WarmSlotError, match=r"warm_slots\[0\]: field 'cluster' must name a member"):
        warm_slots.parse_warm_slots([{"cluster": "mars", "gpu": "a100"}], MEMBERS)
    with pytest.raises(warm_slots.WarmSlotError, match="field 'gpu'"):
        warm_slots.parse_warm_slots([{"cluster": "onprem", "gpu": "potato"}], MEMBERS)
    with pytest.raises(warm_slots.WarmSlotError, match="field 'count' must be a whole number"):
        warm_slots.parse_warm_slots([{"cluster": "onprem", "gpu": "nvidia-l4", "count": 0}], MEMBERS)
    with pytest.raises(warm_slots.WarmSlotError, match="must be a mapping"):
        warm_slots.parse_warm_slots(["onprem"], MEMBERS)


def test_federation_validate_reports_bad_slots(tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\ncontexts:\n- name: onprem\n  context: {cluster: c, user: u}\n")
    fed = Federation(clusters=[{"name": "onprem", "kubeconfig": str(kubeconfig), "context": "onprem"}],
                     warm_slots=[{"cluster": "burst", "gpu": "nvidia-l4"}])
    with pytest.raises(FederationConfigError, match="warm_slots"):
        fed.validate()


def test_placeholder_asks_for_the_gpus_and_nothing_cluster_scoped():
    sched = GpuScheduling(resource="nvidia.com/gpu", tolerations=({"key": "nvidia.com/gpu", "operator": "Exists"},),
                          node_affinity={"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": []}})
    slot = warm_slots.WarmSlot("onprem", "nvidia-a100-40gb", 1, 2, "low")
    pod = warm.placeholder_manifest(slot, sched, "warm-x")
    limits = pod["spec"]["containers"][0]["resources"]["limits"]
    assert limits == {"nvidia.com/gpu": "2"} and pod["spec"]["priorityClassName"] == "low"
    assert pod["metadata"]["labels"][warm.WARM_LABEL] == "nvidia-a100-40gb"
    assert pod["spec"]["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists"}]
    plain = warm_slots.WarmSlot("onprem", "x", 1)
    assert "priorityClassName" not in warm.placeholder_manifest(plain, sched, "w")["spec"]


def placeholder(gpu, phase, deleting=False):
    meta = {"name": "w", "labels": {warm.WARM_LABEL: gpu}}
    if deleting:
        meta["deletionTimestamp"] = "x"
    return {"metadata": meta, "status": {"phase": phase}}


def test_counts_and_shortfall():
    pods = [placeholder("a100", "Running"), placeholder("a100", "Pending"), placeholder("a100", "Running", True),
            placeholder("l4", "Failed"), {"metadata": {"name": "user", "labels": {}}, "status": {"phase": "Running"}}]
    counts = warm.warm_counts(pods)
    assert counts == {"a100": {"warm": 1, "pending": 1}}
    assert warm.shortfall(warm_slots.WarmSlot("c", "a100", 3), counts) == 1
    assert warm.shortfall(warm_slots.WarmSlot("c", "a100", 1), counts) == 0
    assert warm.shortfall(warm_slots.WarmSlot("c", "l4", 2), counts) == 2
    assert warm.shortfall(warm_slots.WarmSlot("c", "a100", 3), counts, handing_over=1) == 0
