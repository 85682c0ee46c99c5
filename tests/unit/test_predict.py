"""Time-to-notebook prediction from the hub's own start history."""

from fedspawner.federation import predict
from fedspawner.federation.predict import StartHistory


def pod(uid, created, ready_at, image="img:1", gpu=None):
    labels = {"fedspawner.dev/gpu-type": gpu} if gpu else {}
    conditions = [{"type": "Ready", "status": "True", "lastTransitionTime": ready_at}] if ready_at else []
    return {"metadata": {"uid": uid, "creationTimestamp": created, "labels": labels},
            "spec": {"containers": [{"image": image}]}, "status": {"conditions": conditions}}


def test_pod_start_seconds_from_timestamps():
    assert predict.pod_start_seconds(pod("a", "2026-01-01T10:00:00Z", "2026-01-01T10:00:07Z")) == 7.0
    assert predict.pod_start_seconds(pod("a", "2026-01-01T10:00:00Z", None)) is None
    assert predict.pod_start_seconds(pod("a", None, "2026-01-01T10:00:07Z")) is None
    assert predict.pod_start_seconds(pod("a", "garbage", "2026-01-01T10:00:07Z")) is None


def test_predict_uses_same_kind_first_then_adjusts_the_other():
    p = predict.predict([3.0, 5.0, 4.0], [40.0], True)
    assert p.seconds == 4.0 and "median of 3" in p.basis and "already there" in p.basis
    p = predict.predict([], [4.0], False)
    assert p.seconds == 4.0 + predict.PULL_GUESS_S and "not seen" in p.basis
    p = predict.predict([], [30.0, 40.0], True)
    assert p.seconds == 30.0  # never below the fastest start seen
    p = predict.predict([], [], True)
    assert p.seconds is None and p.label() == "no recent starts here"
    assert predict.Prediction(4.26, "x").label() == "~4.3 s to notebook (x)"
    assert predict.Prediction(42.4, "x").label() == "~42 s to notebook (x)"


def test_history_recovers_once_and_splits_by_image_presence():
    h = StartHistory()
    pods = [pod("b", "2026-01-01T10:01:00Z", "2026-01-01T10:01:02Z"),
            pod("a", "2026-01-01T10:00:00Z", "2026-01-01T10:00:30Z"),
            pod("c", "2026-01-01T10:02:00Z", "2026-01-01T10:02:04Z"),
            pod("d", "2026-01-01T10:03:00Z", None)]
    assert h.recover("onprem", pods) == 3
    assert h.recover("onprem", pods) == 0  # counted once
    # a (first of its image there) was a cold start, b and c found the image.
    assert h.predict("onprem", None, "img:1").seconds == 3.0
    cold = h.predict("onprem", None, "img:2")
    assert cold.seconds == 30.0 and "not seen" in cold.basis
    assert h.predict("burst", None, "img:1").seconds is None


def test_history_per_gpu_type_falls_back_to_the_cluster():
    h = StartHistory()
    h.record("onprem", "nvidia-a100-40gb", "img", 10.0, True, uid="1")
    h.record("onprem", "nvidia-a100-40gb", "img", 10.0, True, uid="1")  # same pod: once
    h.record("onprem", None, "img", 2.0, True)
    assert h.predict("onprem", "nvidia-a100-40gb", "img").seconds == 10.0
    assert h.predict("onprem", None, "img").seconds == 2.0
    assert h.predict("onprem", "nvidia-l4", "img").seconds == 6.0  # every type on that cluster


def test_node_images_count_as_present():
    h = StartHistory()
    node = {"status": {"images": [{"names": ["docker.io/x@sha256:1", "img:9"]}]}}
    assert h.image_known("onprem", "img:9", [node]) and not h.image_known("onprem", "img:8", [node])
