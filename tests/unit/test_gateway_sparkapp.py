"""A SparkApplication's status as the Spark operator writes it, read by the gateway."""

from __future__ import annotations

import pytest

from fedspawner.gateway import sparkapp
from fedspawner.gateway.model import JobObjects
from fedspawner.gateway.status import job_view


def app(state: str | None = None, **status) -> dict:
    body = {"kind": "SparkApplication", "metadata": {"name": "etl-abc", "labels": {}}, "status": dict(status)}
    if state:
        body["status"]["applicationState"] = {"state": state}
    return body


@pytest.mark.parametrize("state, phase", [("COMPLETED", "Succeeded"), ("FAILED", "Failed"),
                                          ("SUBMISSION_FAILED", "Failed")])
def test_an_ended_application_gives_the_phase_its_reason_and_when(state, phase):
    ended = app(state, terminationTime="2026-12-07T10:00:00Z")
    assert sparkapp.terminal_state(ended) == (phase, state, "2026-12-07T10:00:00Z")


def test_the_operator_s_error_message_is_the_reason():
    failed = app("FAILED")
    failed["status"]["applicationState"]["errorMessage"] = "driver container failed with ExitCode: 1"
    assert sparkapp.terminal_state(failed)[1] == "driver container failed with ExitCode: 1"


@pytest.mark.parametrize("state", [None, "SUBMITTED", "RUNNING", "SUCCEEDING", "FAILING", "PENDING_RERUN"])
def test_an_application_under_way_has_not_ended(state):
    assert sparkapp.terminal_state(app(state)) is None


def test_the_ui_link_appears_once_the_operator_has_made_the_ui_service():
    assert sparkapp.ui_url(app("RUNNING"), "team") is None
    made = app("RUNNING", driverInfo={"webUIServiceName": "etl-abc-ui-svc", "webUIPort": 4040})
    assert sparkapp.ui_url(made, "team") == "http://etl-abc-ui-svc.team.svc:4040"


def test_the_job_view_takes_the_ui_link_from_the_application_while_it_runs():
    objects = JobObjects("j-abc", "regional", "team")
    running = app("RUNNING", driverInfo={"webUIServiceName": "etl-abc-ui-svc", "webUIPort": 4040})
    running["metadata"]["annotations"] = {"fedspawner.dev/spark-ui-service": "elsewhere",
                                          "fedspawner.dev/spark-ui-port": "4040"}
    objects.add(running)
    for role, n in (("driver", 0), ("executor", 1)):
        objects.add({"kind": "Pod", "metadata": {"name": f"p{n}", "labels": {
            "fedspawner.dev/component": role, "spark-exec-id": str(n)}},
            "spec": {"containers": [{"name": "c"}]}, "status": {"phase": "Running"}})
    view = job_view(objects)
    assert view["phase"] == "Running" and view["ui_url"] == "http://etl-abc-ui-svc.team.svc:4040"


def test_before_its_pods_exist_the_message_says_the_operator_is_submitting_it():
    objects = JobObjects("j-abc", "regional", "team")
    objects.add(app())
    view = job_view(objects)
    assert view["phase"] == "Pending"
    assert view["message"].endswith("the Spark operator is submitting it (spark-submit creates the driver)")
    assert sparkapp.before_pods({"kind": "Job"}) is None
