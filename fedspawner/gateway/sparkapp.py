"""What a SparkApplication's status says (pure functions over the Spark operator's JSON).

The Kubeflow Spark operator (v2) keeps an application's state in
``.status.applicationState.state`` (``SUBMITTED``, ``RUNNING``, ``SUCCEEDING``,
``COMPLETED``, ``FAILING``, ``FAILED``, ``SUBMISSION_FAILED``, ``PENDING_RERUN``, ``UNKNOWN``, …)
with an ``errorMessage`` when it failed, the time it ended in ``.status.terminationTime``,
and, once it has made the Spark UI's Service, its name and port in ``.status.driverInfo``.
The job's pods (driver, executors) say the rest; ``gateway.status`` combines both.
"""

from __future__ import annotations

KIND = "SparkApplication"

#: Application states that end it, and the job phase each means.
DONE = {"COMPLETED": "Succeeded", "FAILED": "Failed", "SUBMISSION_FAILED": "Failed",
        "FAILED_SUBMISSION": "Failed"}


def is_sparkapplication(obj: dict | None) -> bool:
    """Whether ``obj`` is a SparkApplication."""
    return bool(obj) and obj.get("kind") == KIND


def state(app: dict) -> str:
    """The application's state as the operator last set it ("" before its first reconcile)."""
    return ((app.get("status") or {}).get("applicationState") or {}).get("state") or ""


def terminal_state(app: dict) -> tuple[str, str, str | None] | None:
    """``(phase, reason, when)`` once the application has ended, else None."""
    status = app.get("status") or {}
    phase = DONE.get(state(app))
    if phase is None:
        return None
    reason = (status.get("applicationState") or {}).get("errorMessage") or state(app)
    return phase, reason, status.get("terminationTime")


def ui_url(app: dict, namespace: str) -> str | None:
    """The Spark UI's in-cluster URL, once the operator has made its Service (None before)."""
    info = (app.get("status") or {}).get("driverInfo") or {}
    service, port = info.get("webUIServiceName"), info.get("webUIPort")
    if not service or not port:
        return None
    return f"http://{service}.{namespace}.svc:{port}"


def before_pods(app: dict | None) -> str | None:
    """What happens before a SparkApplication has pods (None for anything else): the operator runs
    spark-submit, which creates the driver pod (tens of seconds: it starts a JVM)."""
    if not is_sparkapplication(app):
        return None
    if state(app) in ("", "NEW"):
        return "the Spark operator is submitting it (spark-submit creates the driver)"
    return f"the Spark operator reports {state(app)}; the driver pod is not created yet"
