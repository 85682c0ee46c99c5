"""Every error a user can cause shares one base class, whose ``message`` is what they are shown."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from fedspawner.client.errors import ArgumentsError, GatewayRequestError as ClientError
from fedspawner.errors import UserError
from fedspawner.federation.config import FederationConfigError, parse_member_clusters
from fedspawner.gateway.errors import BadRequest, Unsatisfiable
from fedspawner.gateway.handlers import error_answer
from fedspawner.jobs import JobSpec, JobSpecError
from fedspawner.spawner.options import OptionsError, options_from_form
from fedspawner.spawner.spawner import SpawnRefused


@pytest.mark.parametrize("kind", [JobSpecError, ClientError, ArgumentsError, BadRequest, Unsatisfiable,
                                  OptionsError, SpawnRefused, FederationConfigError])
def test_every_user_error_is_a_user_error_with_its_message(kind):
    err = kind("Ask for at most 4 GPUs.")
    assert isinstance(err, UserError) and err.message == str(err) == "Ask for at most 4 GPUs."


def test_real_refusals_are_caught_as_user_errors():
    caught = []
    for cause in (lambda: JobSpec.from_dict({"kind": "ray", "script": "x"}),
                  lambda: options_from_form({"gpu_count": ["two"]}),
                  lambda: parse_member_clusters([{"name": "Bad Name"}])):
        with pytest.raises(UserError) as info:
            cause()
        caught.append(info.value.message)
    assert "Unknown kind of job 'ray'" in caught[0] and "whole number" in caught[1] and "Bad Name" in caught[2]


def test_the_gateway_answers_any_user_error_with_its_message():
    assert error_answer(JobSpecError("no script"), 500) == (400, "no script")
    assert error_answer(Unsatisfiable("nothing fits"), 500) == (422, "nothing fits")
    assert error_answer(RuntimeError("internal detail"), 500)[1].startswith("The gateway failed")


# Every exception class fedspawner defines, by module: caused by a user (or an admin's configuration),
# whose message is shown as is, or a fault of the machinery that callers handle themselves.
USER_CAUSED = {
    "fedspawner.api_input": ["InputError"],
    "fedspawner.client.errors": ["GatewayRequestError", "ArgumentsError"],
    "fedspawner.deploy.helm": ["HelmError"],
    "fedspawner.deploy.join_kube": ["JoinError"],
    "fedspawner.deploy.join_manifests": ["JoinInputError"],
    "fedspawner.federation.budgets": ["BudgetError"],
    "fedspawner.federation.config": ["FederationConfigError"],
    "fedspawner.federation.datasets": ["DatasetError"],
    "fedspawner.federation.gpu_types": ["GpuTypeError"],
    "fedspawner.federation.kubeconfig": ["KubeconfigError"],
    "fedspawner.federation.quantity": ["QuantityError"],
    "fedspawner.federation.warm_slots": ["WarmSlotError"],
    "fedspawner.gateway.errors": ["GatewayError", "BadRequest", "NotAuthenticated", "Forbidden", "NotFound",
                                  "TooLarge", "Unsatisfiable", "ClusterUnavailable"],
    "fedspawner.jobs.errors": ["JobSpecError"],
    "fedspawner.jobs.limits": ["LimitsError"],
    "fedspawner.lab.upstream": ["RelayError"],
    "fedspawner.sandbox.topology": ["TopologyError"],
    "fedspawner.spawner.options": ["OptionsError"],
    "fedspawner.spawner.queued": ["QueueRefused"],
    "fedspawner.spawner.spawner": ["SpawnRefused"],
}
NOT_USER_CAUSED = {
    "fedspawner.builds": ["BuildError"],  # a tool failed to build or install
    "fedspawner.client.args": ["HelpShown"],  # not an error: a magic's --help was shown
    "fedspawner.federation.failover": ["Failover"],
    "fedspawner.federation.multikueue": ["CannotCarry"],  # files too big for a dispatched job: becomes CreateFailed
    "fedspawner.federation.watch": ["WatchForbidden"],
    "fedspawner.gateway.cancel": ["CancelIncomplete"],
    "fedspawner.gateway.lease": ["LeasesNotUsable"],
    "fedspawner.gateway.queueing": ["QueueUnusable"],  # a cluster's queue refuses: becomes CreateFailed
    "fedspawner.gateway.submit": ["CreateFailed"],
    "fedspawner.federation.portforward": ["PortForwardError"],  # a port-forward (session or server tunnel) failed
    "fedspawner.gateway.session_ui": ["UiUnavailable"],  # a session's Spark UI did not answer (a 502 saying why)
    "fedspawner.sandbox.manager": ["SandboxError"],  # a control-plane process failed
    "fedspawner.sandbox.multikueue": ["MultiKueueError"],  # MultiKueue set-up failed: becomes SandboxError
    "fedspawner.sandbox.operators.install": ["OperatorError"],  # an operator failed to install or start
    "fedspawner.spawner.access.portforward": ["TunnelError"],  # a port-forward failed
}
PACKAGE = Path(__file__).resolve().parents[2] / "fedspawner"


def _exception_classes_in_sources() -> set[tuple[str, str]]:
    """(module, class) of every class in the package deriving, by name, from an exception class."""
    defined = []
    for path in PACKAGE.rglob("*.py"):
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                defined.append((module, node.name, [ast.unparse(b).split(".")[-1] for b in node.bases]))
    exceptions = {"BaseException", "Exception", "ValueError", "RuntimeError"}
    found: set[tuple[str, str]] = set()
    while True:
        more = {(m, n) for m, n, bases in defined if set(bases) & exceptions} - found
        if not more:
            return found
        found |= more
        exceptions |= {n for _, n in more}


def _classes(table: dict[str, list[str]]) -> list[type]:
    return [getattr(importlib.import_module(module), name) for module, names in table.items() for name in names]


def test_every_exception_class_is_sorted_as_user_caused_or_not():
    listed = {(m, n) for table in (USER_CAUSED, NOT_USER_CAUSED) for m, names in table.items() for n in names}
    assert _exception_classes_in_sources() - {("fedspawner.errors", "UserError")} == listed


@pytest.mark.parametrize("kind", _classes(USER_CAUSED), ids=lambda kind: kind.__name__)
def test_every_user_caused_error_derives_from_the_one_user_error(kind):
    assert issubclass(kind, UserError)


@pytest.mark.parametrize("kind", _classes(NOT_USER_CAUSED), ids=lambda kind: kind.__name__)
def test_faults_of_the_machinery_are_not_user_errors(kind):
    assert not issubclass(kind, UserError)


def test_no_two_exception_classes_share_a_name():
    names = [name for _, name in _exception_classes_in_sources()]
    assert sorted({n for n in names if names.count(n) > 1}) == []
