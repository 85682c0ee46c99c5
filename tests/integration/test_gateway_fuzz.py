"""Property-based fuzzing of the gateway's REST API from its own OpenAPI document.

Schemathesis generates requests (valid and invalid) for every operation the document
describes and sends them to the real gateway, through the hub's proxy, with a real user
token. Whatever a caller sends, the gateway must answer without a 5xx, a 405 names the
methods it takes in ``Allow``, and answers must match the documented status codes and
schemas. How long each answer took (beyond a long-poll's own wait) is recorded per
operation and printed at the end; only a generous bound is asserted. Jobs the fuzzer
manages to create are cancelled at the end.
"""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request
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
#: The slowest answer of each operation, in seconds beyond the wait a long-poll asked for.
SLOWEST: dict[str, float] = {}
#: Bound asserted on every answer but a submission's (which creates the job's objects): generous
#: for a loaded test machine; an idle one answers well under a second (see the printed table).
ANSWER_BOUND = 10.0
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


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


def _fuzzable_document() -> dict:
    """The OpenAPI document, less the one pattern the fuzzer's generator cannot negate (pip
    requirements: it stops with InvalidRegexPattern); the gateway's own check of that field is
    tested on its own (``test_gateway_limits``, ``test_jobs_spec``)."""
    document = yaml.safe_load(OPENAPI.read_text())
    del document["components"]["schemas"]["JobSpec"]["properties"]["packages"]["items"]["pattern"]
    return document


@pytest.fixture(scope="module")
def gateway_schema(fuzz_token):
    schema = schemathesis.openapi.from_dict(_fuzzable_document())
    schema.config.update(base_url=GATEWAY, headers={"Authorization": f"token {fuzz_token}"})
    yield schema
    _cancel_everything(fuzz_token)


def _cancel_everything(token: str) -> None:
    """Cancel each job and stop each session the fuzzer created (valid specs do create real ones)."""
    def call(method: str, path: str):
        answer = request_json(method, GATEWAY + path, token=token, timeout=120)
        assert answer.status < 400, answer
        return answer.body

    for job in call("GET", "/jobs")["jobs"]:
        call("DELETE", f"/jobs/{job['id']}")
    for session in call("GET", "/sessions")["sessions"]:  # and each Spark session it started
        call("DELETE", f"/sessions/{session['id']}")


def _asked_wait(case) -> float:
    """Seconds a long-polled request asked to be held (with ``since``), as the gateway reads it."""
    query = case.query or {}
    try:
        return min(float(query.get("wait", 25)), 30.0) if query.get("since") else 0.0
    except (TypeError, ValueError):
        return 0.0


@pytest.mark.parametrize(("operation_id", "mode"), _cases(), ids=lambda v: getattr(v, "value", v))
def test_no_request_makes_the_gateway_fail(gateway_schema, operation_id, mode):
    operation = gateway_schema.find_operation_by_id(operation_id)

    @given(operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def fuzz(case):
        began = time.monotonic()
        response = case.call(timeout=60)
        took = time.monotonic() - began - _asked_wait(case)
        SLOWEST[operation_id] = max(SLOWEST.get(operation_id, 0.0), took)
        what = f"{case.method} {case.formatted_path} -> {response.status_code}"
        assert response.status_code < 500, f"{what}: {response.text[:500]}\n{case.as_curl_command()}"
        assert response.status_code != 405 or response.headers.get("Allow"), f"{what} without Allow"
        assert operation_id == "submitJob" or took < ANSWER_BOUND, f"{what} took {took:.1f}s"
        # Cross-field rules (executors only for spark, retries only for job, ...) are not
        # expressible in OpenAPI 3.0, so a schema-valid spec may still get a 4xx.
        case.validate_response(response, excluded_checks=[positive_data_acceptance])

    fuzz()


def _call(method: str, url: str, token: str) -> tuple[int, str | None]:
    """The status and ``Allow`` header of an answer."""
    req = urllib.request.Request(url, method=method, headers={"Authorization": f"token {token}"},
                                 data=b"{}" if method in ("POST", "PUT", "PATCH") else None)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.headers.get("Allow")
    except urllib.error.HTTPError as err:
        with err:
            return err.code, err.headers.get("Allow")


def test_every_undeclared_method_is_a_405_listing_the_declared_ones(fuzz_token):
    document = yaml.safe_load(OPENAPI.read_text())
    for path, item in document["paths"].items():
        declared = sorted(m.upper() for m in item if m != "parameters")
        for method in sorted(set(METHODS) - set(declared)):
            status, allow = _call(method, GATEWAY + path.replace("{id}", "j-aaaaaaaa"), fuzz_token)
            assert status == 405, (method, path, status)
            assert sorted((allow or "").split(", ")) == declared, (method, path, allow)


def test_answer_times(capsys):
    """The slowest answer per operation during the fuzzing above (beyond any long-poll wait)."""
    if not SLOWEST:
        pytest.skip("no fuzzing ran in this session")
    with capsys.disabled():
        print("\nslowest gateway answer per operation (s):",
              ", ".join(f"{op} {secs:.2f}" for op, secs in sorted(SLOWEST.items(), key=lambda kv: -kv[1])))
    assert all(secs < ANSWER_BOUND for op, secs in SLOWEST.items() if op != "submitJob"), SLOWEST
