"""Image-aware placement and CPU-only work kept off GPU nodes: image keys, the avoid-GPU
preference, its scoring in placement, and how the spawner and the renderers apply it."""

from __future__ import annotations

import pytest

from fedspawner.federation.aggregate import cpu_memory_frontier
from fedspawner.federation.gpus import AVOID_GPU_WEIGHT, avoid_gpu_nodes, node_gpu_offers, scheduling_for
from fedspawner.federation.images import image_key, image_keys
from fedspawner.federation.inventory import _Node, started_images
from fedspawner.federation.model import ClusterSnapshot, InventorySnapshot
from fedspawner.federation.placement import GPU_NODE_PENALTY, IMAGE_POINTS, place
from fedspawner.federation.requests import placement_request
from fedspawner.jobs import GpuScheduling, JobSpec, RenderTarget
from fedspawner.jobs.render import render
from fedspawner.spawner.spawner import with_preference

from .test_jobs_manifest_checks import pod_templates

GIB = 2**30
A100_LABELS = {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-40GB", "nvidia.com/gpu.memory": "40960"}


@pytest.mark.parametrize("reference, key", [
    ("python:3.11", "python:3.11"),
    ("docker.io/library/python:3.11", "python:3.11"),
    ("index.docker.io/library/python:3.11", "python:3.11"),
    ("library/python", "python:latest"),
    ("Jupyter/base-notebook", "jupyter/base-notebook:latest"),
    ("quay.io/jupyter/base-notebook:2025-01-13", "quay.io/jupyter/base-notebook:2025-01-13"),
    ("localhost:5000/team/img", "localhost:5000/team/img:latest"),
    ("registry.example.org:443/a/b:1.0", "registry.example.org:443/a/b:1.0"),
    ("python@sha256:abc", None), ("", None), (None, None),
])
def test_image_keys_compare_as_nodes_and_pods_spell_them(reference, key):
    assert image_key(reference) == key


def test_a_nodes_image_list_becomes_its_image_keys():
    node = _Node({"metadata": {"name": "n1", "labels": {}}, "status": {
        "allocatable": {"cpu": "4", "memory": "8Gi"},
        "images": [{"names": ["docker.io/library/python@sha256:1", "docker.io/library/python:3.11"]},
                   {"names": ["quay.io/jupyter/base-notebook:x"]}, {"sizeBytes": 1}]}}, ())
    assert node.images == {"python:3.11", "quay.io/jupyter/base-notebook:x"}
    assert image_keys("not a list") == set()


def test_images_count_as_pulled_only_once_a_container_started_from_them():
    pod = {"status": {"containerStatuses": [
        {"image": "pytorch/pytorch:2", "imageID": "sandbox://pytorch/pytorch:2"},
        {"image": "busybox", "imageID": ""}],
        "initContainerStatuses": [{"image": "python:3.11", "imageID": "docker-pullable://python@sha256:1"}]}}
    assert started_images(pod) == {"pytorch/pytorch:2", "python:3.11"}


def test_the_avoid_gpu_preference_names_every_gpu_label_value_seen():
    offers = [*node_gpu_offers(A100_LABELS, {"nvidia.com/gpu": "4"}, []),
              scheduling_for("nvidia-h100-80gb", "gke"), scheduling_for("amd-mi210", "amd")]
    term = avoid_gpu_nodes(offers)
    assert term["weight"] == AVOID_GPU_WEIGHT == 100
    expressions = {e["key"]: e for e in term["preference"]["matchExpressions"]}
    assert all(e["operator"] == "NotIn" for e in expressions.values())
    assert "NVIDIA-A100-SXM4-40GB" in expressions["nvidia.com/gpu.product"]["values"]
    assert "nvidia-h100-80gb" in expressions["cloud.google.com/gke-accelerator"]["values"]
    assert any(k.startswith("amd.com/") or k.startswith("beta.amd.com/") for k in expressions)
    assert avoid_gpu_nodes([]) is None


# ---- placement -----------------------------------------------------------------------------------

def cpu_cluster(name: str, cpu_only: list[tuple[int, int]] | None, gpu_nodes: list[tuple[int, int]] = (),
                **kwargs) -> ClusterSnapshot:
    everything = [*(cpu_only or []), *gpu_nodes]
    return ClusterSnapshot(name=name, display_name=name, cpu_memory_free=cpu_memory_frontier(everything),
                           cpu_only_free=None if cpu_only is None else cpu_memory_frontier(cpu_only), **kwargs)


def cpu_request(**kwargs):
    return placement_request(gpu_type=None, gpu_count=0, cpu_milli=2000, memory_bytes=4 * GIB, **kwargs)


def test_a_cpu_server_prefers_a_cluster_with_room_on_cpu_only_nodes():
    only_gpu = cpu_cluster("onprem", [(500, GIB)], gpu_nodes=[(32000, 128 * GIB)])
    cpu_room = cpu_cluster("regional", [(4000, 16 * GIB)])
    decision = place(cpu_request(), InventorySnapshot((only_gpu, cpu_room)), now=0)
    assert [c.cluster for c in decision.candidates] == ["regional", "onprem"]
    best, other = decision.candidates
    assert best.reason.startswith("regional: a CPU-only node with 4 CPUs, 16 GiB free")
    assert "room only on GPU nodes" in other.reason
    assert best.score - other.score > GPU_NODE_PENALTY - 100  # the penalty outweighs any fit


def test_a_cluster_of_gpu_nodes_only_says_so_and_invisible_nodes_are_not_penalised():
    all_gpu = cpu_cluster("burst", [], gpu_nodes=[(8000, 32 * GIB)])
    unseen = ClusterSnapshot(name="regional", display_name="regional", visibility="namespace")
    decision = place(cpu_request(), InventorySnapshot((all_gpu, unseen)), now=0)
    reasons = {c.cluster: c.reason for c in decision.candidates}
    assert "only GPU nodes here" in reasons["burst"] and "GPU" not in reasons["regional"]


def test_a_cluster_holding_the_image_wins_over_a_better_fit():
    image = "quay.io/jupyter/base-notebook:2025-01-13"
    tight = cpu_cluster("onprem", [(2500, 5 * GIB)])
    roomy_with_image = cpu_cluster("regional", [(30000, 100 * GIB)], images=frozenset({image}))
    pulled = cpu_cluster("burst", [(30000, 100 * GIB)], recent_images=frozenset({image}))
    decision = place(cpu_request(image=image), InventorySnapshot((tight, roomy_with_image, pulled)), now=0)
    order = [c.cluster for c in decision.candidates]
    assert order[-1] == "onprem" and set(order[:2]) == {"regional", "burst"}
    reasons = {c.cluster: c.reason for c in decision.candidates}
    assert "image already on its nodes" in reasons["regional"]
    assert "image pulled here recently" in reasons["burst"]
    assert "image" not in reasons["onprem"]
    without = place(cpu_request(), InventorySnapshot((tight, roomy_with_image, pulled)), now=0)
    assert [c.cluster for c in without.candidates][0] == "onprem"  # pack: the tightest fit, no image bonus
    scores = {c.cluster: c.score for c in decision.candidates}
    plain = {c.cluster: c.score for c in without.candidates}
    assert scores["regional"] - plain["regional"] == IMAGE_POINTS


def test_the_image_is_matched_however_the_request_spells_it():
    request = cpu_request(image="docker.io/library/python:3.11")
    assert request.image == "python:3.11"
    with_image = cpu_cluster("a", [(4000, 8 * GIB)], images=frozenset({"python:3.11"}))
    assert "image already on its nodes" in place(request, InventorySnapshot((with_image,)), now=0).candidates[0].reason


# ---- applying the preference ----------------------------------------------------------------------

AVOID = {"weight": 100, "preference": {"matchExpressions": [
    {"key": "nvidia.com/gpu.product", "operator": "NotIn", "values": ["NVIDIA-A100-SXM4-40GB"]}]}}
A100_TERM = {"matchExpressions": [{"key": "nvidia.com/gpu.product", "operator": "In",
                                   "values": ["NVIDIA-A100-SXM4-40GB"]}]}
GPU = GpuScheduling(resource="nvidia.com/gpu", node_affinity={
    "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [A100_TERM]}})


def _affinities(objects) -> dict[str, dict]:
    return {f"{obj['kind']}/{obj['metadata']['name']}/{where}": template.get("spec", template).get("affinity", {})
            for obj in objects for where, template in pod_templates(obj)}


@pytest.mark.parametrize("kind, backend", [("job", "indexed-job"), ("pytorch", "indexed-job"),
                                           ("pytorch", "trainjob"), ("spark", "spark-standalone")])
def test_cpu_jobs_prefer_nodes_without_gpus(kind, backend):
    spec = JobSpec.from_dict({"kind": kind, "name": "cpu-job", "script": "print(1)"})
    target = RenderTarget(namespace="team", job_id="j-1", owner="alice", backend=backend, avoid_gpu_nodes=AVOID)
    found = _affinities(render(spec, target))
    assert found and all(a == {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [AVOID]}}
                         for a in found.values()), found


def test_gpu_pods_keep_their_required_affinity_and_a_gpu_spark_driver_avoids_gpu_nodes():
    spec = JobSpec.from_dict({"kind": "spark", "name": "gpu-job", "script": "print(1)", "gpus": "1"})
    target = RenderTarget(namespace="team", job_id="j-1", owner="alice", backend="spark-standalone", gpu=GPU,
                          gpu_type="nvidia-a100-40gb", avoid_gpu_nodes=AVOID)
    found = list(_affinities(render(spec, target)).values())
    required = [a for a in found if "requiredDuringSchedulingIgnoredDuringExecution" in a.get("nodeAffinity", {})]
    preferred = [a for a in found if "preferredDuringSchedulingIgnoredDuringExecution" in a.get("nodeAffinity", {})]
    assert required and preferred  # workers need A100 nodes; the CPU-only driver would rather not be on one
    assert not any("preferredDuringSchedulingIgnoredDuringExecution" in a["nodeAffinity"] for a in required)


def test_the_spawner_adds_the_preference_to_the_profiles_own():
    own = {"weight": 10, "preference": {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}}
    assert with_preference([own], AVOID) == [own, AVOID]
    assert with_preference([own, AVOID], AVOID) == [own, AVOID]  # never twice
    assert with_preference({"zone": own}, AVOID) == {"zone": own, "fedspawner-avoid-gpu-nodes": AVOID}
