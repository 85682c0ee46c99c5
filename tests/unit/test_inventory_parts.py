"""The inventory's pure parts: what a pod asks of its node."""

from __future__ import annotations

from fedspawner.federation.inventory import pod_requests

GIB = 2**30


def pod(*containers: dict, init: list[dict] | None = None) -> dict:
    spec: dict = {"containers": [{"name": f"c{i}", "resources": r} for i, r in enumerate(containers)]}
    if init is not None:
        spec["initContainers"] = [{"name": f"i{i}", "resources": r} for i, r in enumerate(init)]
    return {"metadata": {"name": "p"}, "spec": spec}


def test_requests_of_all_containers_add_up():
    asked = pod({"requests": {"cpu": "500m", "memory": "1Gi", "nvidia.com/gpu": "1"}},
                {"requests": {"cpu": "2", "memory": "512Mi", "nvidia.com/gpu": 2}})
    assert pod_requests(asked) == {"cpu": 2500, "memory": GIB + 512 * 2**20, "nvidia.com/gpu": 3}


def test_limits_count_where_requests_are_absent_and_requests_win_where_both_are_set():
    asked = pod({"limits": {"cpu": "4", "nvidia.com/gpu": "2"}, "requests": {"cpu": "1"}},
                {"limits": {"memory": "2Gi"}})
    assert pod_requests(asked) == {"cpu": 1000, "nvidia.com/gpu": 2, "memory": 2 * GIB}


def test_init_containers_count_by_their_largest_request():
    asked = pod({"requests": {"cpu": "1", "memory": "1Gi"}},
                init=[{"requests": {"cpu": "3"}}, {"requests": {"cpu": "2", "memory": "512Mi", "amd.com/gpu": "1"}}])
    assert pod_requests(asked) == {"cpu": 3000, "memory": GIB, "amd.com/gpu": 1}


def test_quantities_round_up_to_whole_millicores_and_units():
    asked = pod({"requests": {"cpu": "0.0001", "memory": "1.5", "example.com/fpga": "500m"}})
    assert pod_requests(asked) == {"cpu": 1, "memory": 2, "example.com/fpga": 1}


def test_unreadable_quantities_count_as_nothing():
    asked = pod({"requests": {"cpu": "lots", "memory": "1Gi", "nvidia.com/gpu": "two"}},
                {"requests": {"cpu": "250m"}})
    requests = pod_requests(asked)
    assert (requests["cpu"], requests["memory"], requests.get("nvidia.com/gpu", 0)) == (250, GIB, 0)


def test_pods_without_resources_ask_nothing():
    assert pod_requests({"metadata": {"name": "p"}}) == {}
    assert pod_requests({"spec": None}) == {}
    assert pod_requests({"spec": {"containers": [{"name": "c"}, {"name": "d", "resources": None}],
                                  "initContainers": None}}) == {}
    assert pod_requests(pod({"requests": None, "limits": None})) == {}
