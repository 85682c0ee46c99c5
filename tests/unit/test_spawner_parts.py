"""Pure parts of the federated spawner: launch options, failover reasons, node affinity
composition, ingress manifests, trait baselines and the availability payload."""

from __future__ import annotations

import aiohttp
import pytest
from kubernetes_asyncio.client.rest import ApiException
from traitlets import Dict, HasTraits, List, Unicode

from fedspawner.federation.config import IngressSettings
from fedspawner.federation.model import ClusterSnapshot, GpuAvailability, InventorySnapshot
from fedspawner.federation import failover
from fedspawner.spawner import baseline, options
from fedspawner.spawner.availability import availability
from fedspawner.spawner.access.ingress import ingress_manifest
from fedspawner.spawner.spawner import and_node_selector_terms


def gpu(name, display, free=None, bound=None, max_per_node=None):
    return GpuAvailability(gpu_type=name, display=display, resource="nvidia.com/gpu", total=8, free=free,
                           free_upper_bound=bound, largest_free_on_one_node=free, max_per_node=max_per_node,
                           note="")


SNAPSHOT = InventorySnapshot(clusters=(
    ClusterSnapshot(name="onprem", display_name="Campus", gpus={
        "nvidia-a100-40gb": gpu("nvidia-a100-40gb", "NVIDIA A100 40GB", free=6, max_per_node=4)}),
    ClusterSnapshot(name="regional", display_name="Regional", visibility="namespace", gpus={
        "nvidia-l4": gpu("nvidia-l4", "NVIDIA L4", bound=4)}),
    ClusterSnapshot(name="burst", display_name="Burst", healthy=False, health_reason="apiserver unreachable",
                    allowed_groups=frozenset({"cloud"}),
                    gpus={"nvidia-h100-80gb": gpu("nvidia-h100-80gb", "NVIDIA H100 80GB", free=8, max_per_node=8)}),
))
PROFILES = [
    {"slug": "cpu", "display_name": "CPU", "default": True},
    {"slug": "a100", "display_name": "A100", "gpu": {"type": "nvidia-a100-40gb", "count": 1},
     "clusters": {"allowed": ["onprem"]}, "allowed_groups": ["gpu"]},
]


def test_form_fields_become_user_options():
    opts = options.options_from_form({"profile": ["a100"], "cluster": [" auto "], "gpu_count": ["2"],
                                      "profile-option-a100--image": ["x"], "profile-option-cpu--image": ["y"]})
    assert opts == {"profile": "a100", "cluster": "auto", "gpu_count": 2, "image": "x"}
    with pytest.raises(options.OptionsError, match="whole number"):
        options.options_from_form({"gpu_count": ["two"]})


def test_profile_gpu_applies_unless_the_user_chose():
    req = options.resolve({"profile": "a100"}, PROFILES, SNAPSHOT, frozenset({"gpu"}))
    assert (req.gpu_type, req.gpu_count) == ("nvidia-a100-40gb", 1)
    req = options.resolve({"profile": "cpu", "gpu_type": "a100-40gb"}, PROFILES, SNAPSHOT, frozenset())
    assert (req.gpu_type, req.gpu_count, req.cluster) == ("nvidia-a100-40gb", 1, None)
    req = options.resolve({"profile": "cpu", "gpu_count": 2}, PROFILES, SNAPSHOT, frozenset())
    assert req.gpu_type == "any"


@pytest.mark.parametrize("opts,groups,message", [
    ({"profile": "a100"}, set(), "only for the groups gpu"),
    ({"profile": "nope"}, set(), "There is no server profile 'nope'. Choose one of: cpu."),
    ({"cluster": "mars"}, set(), "There is no cluster 'mars'"),
    ({"cluster": "burst"}, set(), "You may not use the cluster 'burst'"),
    ({"gpu_type": "nvidia-a100-40gb", "gpu_count": 5}, set(), "the most on one node is 4 (onprem)"),
    ({"gpu_type": "nvidia-l40s"}, set(), "No nvidia-l40s in the clusters open to you"),
    ({"gpu_type": "nvidia-a100-40gb", "gpu_count": -1}, set(), "cannot be negative"),
    ({"gpu_type": "a1000"}, set(), "a1000"),
])
def test_bad_requests_are_explained(opts, groups, message):
    with pytest.raises(options.OptionsError) as err:
        options.resolve(opts, PROFILES, SNAPSHOT, frozenset(groups))
    assert message in str(err.value)


def test_upper_bounds_do_not_block_large_counts():
    """Where nodes are not visible the per-node maximum is unknown: placement decides."""
    req = options.resolve({"gpu_type": "nvidia-l4", "gpu_count": 3}, PROFILES, SNAPSHOT, frozenset())
    assert req.gpu_count == 3


def test_placement_request_carries_locality_and_preferences():
    profile = {"slug": "p", "display_name": "P", "clusters": {"preferred": ["regional"], "locality": {"data": "x"}}}
    req = options.resolve({"profile": "p"}, [profile], SNAPSHOT, frozenset())
    placement = options.server_placement(req, SNAPSHOT, user="u", groups=frozenset(), cpu_milli=500,
                                         memory_bytes=2**30, policy="spread")
    assert placement.preferred_clusters == ("regional",) and placement.locality == {"data": "x"}
    assert placement.allowed_clusters == ("onprem", "regional") and placement.policy == "spread"


@pytest.mark.parametrize("event,expected", [
    ({"reason": "FailedScheduling", "message": "0/5 nodes are available: 5 Insufficient nvidia.com/gpu."},
     "no node has enough nvidia.com/gpu free now"),
    ({"reason": "FailedScheduling", "message": "0/3 nodes are available: 1 node(s) had untolerated taint "
                                               "{nvidia.com/gpu: present}"}, "its GPU nodes are tainted"),
    ({"reason": "FailedScheduling", "message": "0/3 nodes are available: pod has unbound immediate "
                                               "PersistentVolumeClaims."}, None),
    ({"reason": "Failed", "message": 'Failed to pull image "x": ErrImagePull: not found'},
     "the server's image cannot be pulled there"),
    ({"reason": "Pulled", "message": "ok"}, None),
    ({"reason": "Started", "message": "Started container notebook"}, None),
])
def test_failover_reasons_from_events(event, expected):
    reason = failover.reason_for_event(event)
    assert (reason is None and expected is None) or (expected and reason.startswith(expected))


def test_failover_reasons_name_their_subject():
    message = "0/3 nodes are available: 3 node(s) had untolerated taint {nvidia.com/gpu: present}."
    assert failover.reason_for_scheduling(message, "the job") == (
        "its GPU nodes are tainted and the job does not tolerate them")
    assert failover.quota_reason("pods is forbidden: exceeded quota: q, requested: pods=1, used: pods=0, "
                                 "limited: pods=0") == "over its quota q (asked pods=1, in use pods=0, limit pods=0)"
    assert failover.quota_reason("forbidden: User cannot create pods") is None


def test_failover_reasons_from_errors():
    quota = ApiException(status=403, reason="Forbidden")
    quota.body = ('{"message":"pods \\"x\\" is forbidden: exceeded quota: gpu-quota, requested: '
                  'requests.nvidia.com/gpu=8, used: requests.nvidia.com/gpu=0, limited: requests.nvidia.com/gpu=6"}')
    assert failover.reason_for_exception(quota).startswith("over its quota gpu-quota (asked requests.nvidia")
    assert failover.reason_for_exception(ConnectionRefusedError()) == "cluster unreachable (ConnectionRefusedError)"
    # a stream the apiserver dropped: an aiohttp.ClientError that is not an OSError
    assert failover.reason_for_exception(aiohttp.ServerDisconnectedError()) == (
        "cluster unreachable (ServerDisconnectedError)")
    bad = ApiException(status=422, reason="Unprocessable")
    assert failover.reason_for_exception(bad) is None  # a real error: not a reason to move on
    assert failover.reason_for_exception(ValueError("x")) is None


def test_gpu_affinity_is_anded_with_the_profiles_own():
    profile_terms = [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]},
                     {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["b"]}]}]
    gpu_terms = [{"matchExpressions": [{"key": "nvidia.com/gpu.product", "operator": "In", "values": ["L4"]}]}]
    combined = and_node_selector_terms(profile_terms, gpu_terms)
    assert len(combined) == 2
    assert all(len(t["matchExpressions"]) == 2 for t in combined)
    assert and_node_selector_terms([], gpu_terms) == gpu_terms


def test_ingress_manifest():
    manifest = ingress_manifest(name="jupyter-a", namespace="ns", path="/user/a/", service="jupyter-a", port=8888,
                                settings=IngressSettings(host="nb.example.org", class_name="nginx", tls_secret="t",
                                                         annotations={"x": "y"}),
                                labels={"app": "jupyterhub"}, owner_reference={"kind": "Pod", "uid": "1"})
    rule = manifest["spec"]["rules"][0]
    assert rule["host"] == "nb.example.org" and rule["http"]["paths"][0]["path"] == "/user/a/"
    assert manifest["spec"]["tls"] == [{"hosts": ["nb.example.org"], "secretName": "t"}]
    assert manifest["metadata"]["ownerReferences"] == [{"kind": "Pod", "uid": "1"}]


class Traits(HasTraits):
    limits = Dict(config=True)
    tolerations = List(config=True)
    image = Unicode("base", config=True)


def test_baseline_restores_mutated_traits():
    obj = Traits(limits={"cpu": "1"})
    saved = baseline.snapshot(obj)
    obj.limits["nvidia.com/gpu"] = "2"  # in-place merge, as profile overrides do
    obj.tolerations = [{"key": "nvidia.com/gpu"}]
    obj.image = "gpu-image"
    baseline.restore(obj, saved)
    assert obj.limits == {"cpu": "1"} and obj.tolerations == [] and obj.image == "base"
    obj.limits["x"] = "y"
    baseline.restore(obj, saved)
    assert obj.limits == {"cpu": "1"}  # the saved copy itself was not shared


def test_availability_payload_marks_unusable_choices():
    payload = availability(SNAPSHOT, frozenset())
    clusters = {c["name"]: c for c in payload["clusters"]}
    assert clusters["burst"]["usable"] is False and clusters["burst"]["reason"].startswith("down")
    assert clusters["onprem"]["usable"] is True and clusters["onprem"]["reason"] == ""
    l4 = clusters["regional"]["gpus"][0]
    assert (l4["free"], l4["upper_bound"], l4["best_known_free"]) == (None, 4, 4)


def test_availability_version_follows_what_the_user_sees():
    base = availability(SNAPSHOT, frozenset())
    assert availability(SNAPSHOT, frozenset())["version"] == base["version"]
    healthy_burst = InventorySnapshot(clusters=(*SNAPSHOT.clusters[:2], ClusterSnapshot(
        name="burst", display_name="Burst", allowed_groups=frozenset({"cloud"}))))
    assert availability(healthy_burst, frozenset({"cloud"}))["version"] != \
        availability(healthy_burst, frozenset())["version"]  # usable for one, not the other
    fuller = InventorySnapshot(clusters=(ClusterSnapshot(name="onprem", display_name="Campus", gpus={
        "nvidia-a100-40gb": gpu("nvidia-a100-40gb", "NVIDIA A100 40GB", free=5, max_per_node=4)}),
        *SNAPSHOT.clusters[1:]))
    assert availability(fuller, frozenset())["version"] != base["version"]
