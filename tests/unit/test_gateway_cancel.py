"""Cancelling deletes every object of a job, the anchor last, and waits until none is left."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from fedspawner.gateway import kube
from fedspawner.gateway.cancel import CancelIncomplete, delete_job
from fedspawner.gateway.cancelling import cancelling_view
from fedspawner.gateway.model import JobObjects

from .test_gateway_status import anchor, job, pod, record


def objects(*extra: dict) -> JobObjects:
    """The job with its anchor and ``extra`` objects."""
    found = JobObjects("j-abcd2345", "onprem", "fedspawner", anchor=anchor(record()))
    for obj in extra:
        found.add(obj)
    return found


def going(obj: dict) -> dict:
    """``obj`` being deleted already."""
    return {**obj, "metadata": {**obj["metadata"], "deletionTimestamp": "2026-01-01T00:00:09Z"}}


SERVICE = {"kind": "Service", "metadata": {"name": "ddp-abcd2345"}}


class FakeStore:
    """Answers each check of the cluster with the next of ``checks`` (then: nothing left), and keeps
    the DELETEs sent before each check (``kind/name``), one list per round."""

    def __init__(self, *checks: JobObjects | None):
        self.checks = list(checks)
        self.registry = SimpleNamespace(api=lambda cluster: f"api-{cluster}")
        self.rounds: list[list[str]] = [[]]

    async def fetch(self, cluster: str, selector: str, owned: bool = False) -> dict[str, JobObjects]:
        assert selector == "app.kubernetes.io/managed-by=fedspawner,fedspawner.dev/job-id=j-abcd2345"
        assert owned  # Services and JobSets too
        found = self.checks.pop(0) if self.checks else None
        if found:
            self.rounds.append([])
        return {found.job_id: found} if found else {}


@pytest.fixture
def store(monkeypatch):
    """Make a ``FakeStore`` whose cluster gets the DELETEs."""
    made: list[FakeStore] = []

    async def delete(api, resource, namespace, name, propagation="Background", grace=None):
        assert (api, namespace, propagation) == ("api-onprem", "fedspawner", "Background")
        assert grace == (10 if resource is kube.PODS else None)
        made[-1].rounds[-1].append(f"{resource.kind}/{name}")

    def make(*checks: JobObjects | None) -> FakeStore:
        made.append(FakeStore(*checks))
        return made[-1]

    monkeypatch.setattr(kube, "delete", delete)
    return make


async def test_the_anchor_goes_only_once_everything_else_is_gone(store):
    first = objects(job(), pod("a", index=0), SERVICE)
    cluster = store(objects(going(pod("a", index=0)), pod("b", index=1)), objects())
    await delete_job(cluster, first, poll=0)
    assert cluster.rounds == [["Job/ddp-abcd2345", "Pod/a", "Service/ddp-abcd2345"],
                              ["Pod/b"],  # a straggler; the pod already going is not asked again
                              ["ConfigMap/ddp-abcd2345-script"]]


async def test_objects_left_after_the_timeout_are_named(store):
    stuck = objects(going(pod("a", index=0)))
    cluster = store(*[stuck] * 5)
    with pytest.raises(CancelIncomplete, match="still on onprem after 0s: ConfigMap/ddp-abcd2345-script, Pod/a"):
        await delete_job(cluster, stuck, timeout=0, poll=0)


def test_a_job_being_cancelled_reads_as_cancelled_with_what_is_left():
    view = cancelling_view({"id": "j-abcd2345", "phase": "Running", "ui_url": "http://x:4040"},
                           objects(job(), pod("a", index=0), pod("b", index=1)))
    assert (view["phase"], view["ui_url"], view["id"]) == ("Cancelled", None, "j-abcd2345")
    assert view["message"] == "cancelling: deleting what is left on onprem (1 ConfigMap, 1 Job, 2 Pods)"
