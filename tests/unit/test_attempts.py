"""Which labelled pods are left over from starts that did not finish (pure decision)."""

from fedspawner.spawner import attempts


def labelled(name, value, deleting=False):
    meta = {"name": name, "uid": f"uid-{name}", "labels": {attempts.ATTEMPT_LABEL: value}}
    if deleting:
        meta["deletionTimestamp"] = "x"
    return {"metadata": meta}


def test_leftovers_are_unfinished_starts_no_one_runs():
    pods = [labelled("jupyter-a", attempts.KEPT), labelled("jupyter-b", "r1"), labelled("jupyter-c", "r2"),
            labelled("jupyter-d", "r3", deleting=True), {"metadata": {"name": "jupyter-e", "labels": {}}}]
    both = [("jupyter-b", "uid-jupyter-b"), ("jupyter-c", "uid-jupyter-c")]
    assert attempts.leftovers(pods, set(), "onprem") == both
    assert attempts.leftovers(pods, {("onprem", "jupyter-b")}, "onprem") == both[1:]
    assert attempts.leftovers(pods, {("burst", "jupyter-b")}, "onprem") == both
    assert attempts.leftovers(pods, set(), "onprem", pod_name="jupyter-c") == both[1:]


def test_attempt_ids_are_label_values():
    ids = {attempts.new_id() for _ in range(100)}
    assert len(ids) == 100 and all(i.isalnum() and len(i) <= 63 and i != attempts.KEPT for i in ids)
