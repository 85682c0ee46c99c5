"""Kubeflow Trainer pieces that are pure: the runtime fedspawner keeps, which runtimes suit its
TrainJobs, the runtime a TrainJob references, and what a TrainJob's conditions say."""

from __future__ import annotations

from dataclasses import replace

import pytest

from fedspawner.gateway.model import JobObjects
from fedspawner.gateway.status import job_view
from fedspawner.gateway.trainjob import trainjob_waiting
from fedspawner.jobs.render import render
from fedspawner.jobs.render.target import RuntimeRef
from fedspawner.jobs.render.trainer import (
    ANNOTATION_RUNTIME_REVISION,
    OWNED_RUNTIME,
    render_training_runtime,
    runtime_unsuitable,
)

from .test_gateway_status import anchor, pod, record
from .test_jobs_render_backends import make_spec, make_target


def test_the_runtime_fedspawner_keeps_suits_its_trainjobs_and_fails_fast():
    runtime = render_training_runtime("team-a")
    assert (runtime["kind"], runtime["metadata"]["name"], runtime["metadata"]["namespace"]) == \
        ("TrainingRuntime", OWNED_RUNTIME, "team-a")
    assert runtime_unsuitable(runtime) is None
    labels = runtime["metadata"]["labels"]
    assert labels["trainer.kubeflow.org/framework"] == "torch"  # the Kubeflow SDK lists runtimes by it
    assert labels["app.kubernetes.io/managed-by"] == "fedspawner"
    node = runtime["spec"]["template"]["spec"]["replicatedJobs"][0]["template"]
    assert node["metadata"]["labels"]["trainer.kubeflow.org/trainjob-ancestor-step"] == "trainer"
    assert node["spec"]["backoffLimit"] == 0 and node["spec"]["template"]["spec"]["restartPolicy"] == "Never"


def test_the_runtime_revision_is_its_specs_digest_wherever_it_is_kept():
    one, other = render_training_runtime("a"), render_training_runtime("b")
    revision = one["metadata"]["annotations"][ANNOTATION_RUNTIME_REVISION]
    assert len(revision) == 16 and revision == other["metadata"]["annotations"][ANNOTATION_RUNTIME_REVISION]


@pytest.mark.parametrize("breaks, why", [
    (lambda s: s["mlPolicy"].pop("torch"), "not a torch runtime"),
    (lambda s: s["template"]["spec"]["replicatedJobs"][0].update(name="trainer"), "no replicated job 'node'"),
    (lambda s: s["template"]["spec"]["replicatedJobs"][0]["template"]["spec"]["template"]["spec"]["containers"][0]
     .update(name="main"), "no container 'node'"),
])
def test_a_runtime_that_does_not_fit_the_trainjobs_says_why(breaks, why):
    runtime = render_training_runtime("a")
    breaks(runtime["spec"])
    assert why in runtime_unsuitable(runtime)


def test_the_trainjob_references_the_runtime_it_is_given():
    target = replace(make_target("trainjob"), runtime=RuntimeRef("TrainingRuntime", OWNED_RUNTIME))
    trainjob = render(make_spec("pytorch"), target)[-1]
    assert trainjob["spec"]["runtimeRef"] == {"name": OWNED_RUNTIME, "kind": "TrainingRuntime",
                                              "apiGroup": "trainer.kubeflow.org"}
    labels = trainjob["metadata"]["labels"]
    assert labels["app.kubernetes.io/name"] == "pytorch"
    assert labels["app.kubernetes.io/instance"] == trainjob["metadata"]["name"]
    assert "status" not in trainjob
    with pytest.raises(ValueError, match="RuntimeRef.kind"):
        RuntimeRef("PodTemplate", "x")


def trainjob(conditions: list | None = None) -> dict:
    return {"kind": "TrainJob", "metadata": {"name": "ddp-abcd2345"}, "status": {"conditions": conditions or []}}


def trainjob_objects(conditions: list | None = None, jobset: bool = True, pods: list | None = None) -> JobObjects:
    rec = record()
    others = [{"kind": "JobSet", "metadata": {"name": "ddp-abcd2345"}}] if jobset else []
    return JobObjects("j-abcd2345", "onprem", "fedspawner", anchor=anchor(rec, "trainjob"),
                      workloads=[trainjob(conditions)], pods=pods or [], others=others)


def test_a_suspended_trainjob_says_who_holds_it():
    held = trainjob_objects([{"type": "Suspended", "status": "True", "reason": "Suspended",
                              "message": "TrainJob is suspended"}])
    view = job_view(held)
    assert view["phase"] == "Pending"
    assert view["message"] == ("suspended on onprem (TrainJob is suspended); Kubeflow Trainer starts it when "
                               "it is resumed")


def test_a_trainjob_without_its_jobset_waits_for_trainer():
    assert job_view(trainjob_objects(jobset=False))["message"] == \
        "waiting for Kubeflow Trainer on onprem to create the job's JobSet"
    failed = trainjob_objects([{"type": "Created", "status": "False", "message": "webhook refused the JobSet"}])
    assert trainjob_waiting(failed) == \
        "Kubeflow Trainer could not create its jobs on onprem: webhook refused the JobSet"


def test_conditions_end_a_trainjob_and_pods_speak_once_they_exist():
    done = trainjob_objects([{"type": "Complete", "status": "True", "reason": "AllJobsCompleted"}])
    assert job_view(done)["phase"] == "Succeeded"
    failed = trainjob_objects([{"type": "Failed", "status": "True", "reason": "FailedJobs",
                                "message": "jobset failed"}], pods=[pod("p1", "Failed", index=1, exit_code=1)])
    view = job_view(failed)
    assert view["phase"] == "Failed" and view["message"].startswith("rank 1 failed: "), view
    resumed = trainjob_objects([{"type": "Suspended", "status": "False", "reason": "Resumed"}],
                               pods=[pod("p0", "Pending", index=0)])
    assert trainjob_waiting(resumed) is None
