"""Every error a user can cause shares one base class, whose ``message`` is what they are shown."""

from __future__ import annotations

import pytest

from fedspawner.client.errors import ArgumentsError, GatewayError as ClientError
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
