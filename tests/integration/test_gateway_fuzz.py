"""Property-based fuzzing of the gateway's REST API from its own OpenAPI document.

Schemathesis generates requests (valid and invalid) for every operation the document
describes and sends them to the real gateway, through the hub's proxy, with a real user
token. Whatever a caller sends, the gateway must answer without a 5xx; answers must also
match the documented status codes and schemas. Jobs the fuzzer manages to create are
cancelled at the end.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import positive_data_acceptance

from fedspawner.gateway import app

from .json_client import request_json
from .test_gateway_support import GATEWAY

FUZZ_USER = "fuzzer"
OPENAPI = Path(app.__file__).with_name("openapi.yaml")
#: Streaming operations answer with a stream that only ends with the job: fuzz their
#: parameters with follow off.
STREAMS = {"watchJob"}
EXAMPLES = int(os.environ.get("FEDSPAWNER_FUZZ_EXAMPLES", "40"))  # per operation and mode


@pytest.fixture(scope="session")
def fuzz_token(token_for, gateway_up):
    return token_for(FUZZ_USER)


def _cases() -> list[tuple[str, GenerationMode]]:
    """(operation, mode) pairs: valid input for every operation, invalid input where it takes any."""
    document = yaml.safe_load(OPENAPI.read_text())
    cases = []
    for item in document["paths"].values():
        for method, op in item.items():
            if method == "parameters" or op["operationId"] in STREAMS:
                continue
            cases.append((op["operationId"], GenerationMode.POSITIVE))
            if "parameters" in item or "parameters" in op or "requestBody" in op:
                cases.append((op["operationId"], GenerationMode.NEGATIVE))
    return cases


@pytest.fixture(scope="module")
def gateway_schema(fuzz_token):
    schema = schemathesis.openapi.from_path(str(OPENAPI))
    schema.config.update(base_url=GATEWAY, headers={"Authorization": f"token {fuzz_token}"})
    yield schema
    _cancel_everything(fuzz_token)


def _cancel_everything(token: str) -> None:
    """Cancel each job the fuzzer created (valid specs do create real jobs)."""
    def call(method: str, path: str):
        answer = request_json(method, GATEWAY + path, token=token, timeout=120)
        assert answer.status < 400, answer
        return answer.body

    for job in call("GET", "/jobs")["jobs"]:
        call("DELETE", f"/jobs/{job['id']}")


@pytest.mark.parametrize(("operation_id", "mode"), _cases(), ids=lambda v: getattr(v, "value", v))
def test_no_request_makes_the_gateway_fail(gateway_schema, operation_id, mode):
    operation = gateway_schema.find_operation_by_id(operation_id)

    @given(operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def fuzz(case):
        response = case.call(timeout=60)
        assert response.status_code < 500, (f"{case.method} {case.formatted_path} -> {response.status_code}: "
                                            f"{response.text[:500]}\n{case.as_curl_command()}")
        # Cross-field rules (executors only for spark, retries only for job, ...) are not
        # expressible in OpenAPI 3.0, so a schema-valid spec may still get a 4xx.
        case.validate_response(response, excluded_checks=[positive_data_acceptance])

    fuzz()
