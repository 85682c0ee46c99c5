"""Which clusters queue notebook servers through Kueue, and reading Kueue's answers (pure parts)."""

from __future__ import annotations

from kubernetes_asyncio.client.rest import ApiException

from fedspawner.spawner.queued import kueue_down, owned_by_pod, queue_setting


def test_a_cluster_queues_notebooks_only_when_the_admins_opt_it_in():
    setting = {"training": True, "gpu": "a100-queue", "lab": {"physics": "phys", "*": "shared"}, "off": False}
    assert queue_setting(setting, "training", frozenset()) == (True, None)  # the queue found there
    assert queue_setting(setting, "gpu", frozenset()) == (True, "a100-queue")
    assert queue_setting(setting, "lab", frozenset({"physics"})) == (True, "phys")
    assert queue_setting(setting, "lab", frozenset({"chemistry"})) == (True, "shared")
    assert queue_setting(setting, "off", frozenset()) is None
    assert queue_setting(setting, "analytics", frozenset()) is None  # not named: unaffected
    assert queue_setting({"*": True, "off": False}, "analytics", frozenset()) == (False, None)
    assert queue_setting({"*": True, "off": False}, "off", frozenset()) is None
    assert queue_setting({}, "training", frozenset()) is None


def workload(name: str, pod: str, uid: str) -> dict:
    return {"metadata": {"name": name, "ownerReferences": [{"kind": "Pod", "name": pod, "uid": uid}]}}


def test_the_workload_of_a_pod_is_found_by_its_owner_and_uid():
    job = {"metadata": {"name": "job-x", "ownerReferences": [{"kind": "Job", "name": "jupyter-ann", "uid": "j"}]}}
    old, new = workload("pod-jupyter-ann-1", "jupyter-ann", "old"), workload("pod-jupyter-ann-2", "jupyter-ann", "new")
    assert owned_by_pod([job, old, new], "jupyter-ann", "new") is new
    assert owned_by_pod([job, old], "jupyter-ann", "new") is None  # a deleted pod's is not this one's
    assert owned_by_pod([job, old], "jupyter-ann", None) is old  # uid not known yet: by name
    assert owned_by_pod([job], "jupyter-ann", None) is None


def test_a_failing_kueue_webhook_is_said_plainly():
    err = ApiException(status=500, reason="Internal Server Error")
    err.body = ('{"message":"Internal error occurred: failed calling webhook \\"mpod.kb.io\\": failed to call '
                'webhook: Post \\"https://127.0.0.1:1/mutate--v1-pod\\": connection refused"}')
    assert kueue_down(err, "training").startswith("Kueue on training is not answering (its pod webhook failed)")
    other = ApiException(status=500, reason="Internal Server Error")
    other.body = '{"message":"etcdserver: request timed out"}'
    assert kueue_down(other, "training") is None
    assert kueue_down(ApiException(status=403, reason="Forbidden"), "training") is None
    assert kueue_down(OSError("refused"), "training") is None
