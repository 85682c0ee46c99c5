"""The input rules both REST servers share: query parameters, whole numbers, bodies, and the
OpenAPI document describing exactly the parameters the gateway's handlers take."""

from __future__ import annotations

import json
import re

import pytest
import yaml
from tornado import web

from fedspawner.api_input import (AUTH_PARAMS, LOGS_QUERY, MAX_BODY_BYTES, MAX_JSON_DEPTH, Choice, Flag,
                                  InputError, Seconds, Text, Whole, allowed_methods, depth, read_json, read_query)
from fedspawner.digits import whole_number
from fedspawner.gateway.handlers import OPENAPI, routes


@pytest.mark.parametrize("text, number", [
    ("0", 0), ("42", 42), ("007", 7), ("²", None), ("٣", None), ("３", None), (" 1", None), ("1 ", None),
    ("1_0", None), ("+1", None), ("-1", None), ("", None), ("1.0", None), ("9" * 19, None), (3, None),
])
def test_whole_numbers_are_ascii_digits_only(text, number):
    assert whole_number(text) == number


def query(**values: str | list[str]) -> dict[str, list[bytes]]:
    """A raw query as tornado holds it."""
    return {k: [x.encode() for x in (v if isinstance(v, list) else [v])] for k, v in values.items()}


@pytest.mark.parametrize("raw, words", [
    (query(rank="²"), "'rank' must be a whole number from 0 to 100000 (digits 0-9 only), not '²'"),
    (query(rank="٣"), "not '٣'"),
    (query(rank="1e3"), "'rank' must be a whole number"),
    (query(rank="100001"), "from 0 to 100000"),
    (query(tail="-1"), "'tail' must be a whole number"),
    (query(rank="1", colour="blue"), "Unknown query parameter 'colour'; this endpoint takes container, follow"),
    (query(rank=["1", "2"]), "Give 'rank' once, not 2 times"),
    (query(container="\x00"), "'container' holds control characters"),
    (query(container="a\nb"), "holds control characters"),
    ({"container": [b"\xff"]}, "'container' is not UTF-8"),
    (query(container="Main"), "'container' must be a container name (a DNS label)"),
    (query(follow="yes"), "'follow' must be 1 or 0 (true or false)"),
    (query(rank=""), "'rank' is empty: give it a value, or leave it out"),
])
def test_refused_queries_say_which_parameter_and_why(raw, words):
    with pytest.raises(InputError) as info:
        read_query(raw, LOGS_QUERY)
    assert info.value.status == 400 and words in info.value.message, info.value.message


def test_a_query_read_by_its_table():
    assert read_query(query(rank="2", tail="0", follow="true", container="main", token="t"), LOGS_QUERY) == \
        {"rank": 2, "tail": 0, "follow": True, "container": "main"}
    assert read_query(query(follow="0"), LOGS_QUERY) == {"follow": False}
    assert read_query(query(_xsrf="x"), {}) == {} and "token" in AUTH_PARAMS
    # JupyterLab's requests carry a cache-buster (``?1796646726447``, no value): not a parameter
    assert read_query({"1796646726447": [b""]}, {}) == {}
    with pytest.raises(InputError, match="Unknown query parameter"):
        read_query({"1796646726447": [b"x"]}, {})
    with pytest.raises(InputError, match="this endpoint takes no query parameters"):
        read_query(query(state="running"), {})


@pytest.mark.parametrize("reader, text, value", [
    (Seconds(30.0), "2.5", 2.5), (Seconds(30.0), "99", 30.0), (Seconds(30.0), "0", 0.0), (Flag(), "1", True),
    (Choice(("running", "failed")), "failed", "failed"), (Text(r"[a-f0-9]{1,16}", "a version"), "ab12", "ab12"),
    (Whole(1, 5), "5", 5),
])
def test_readers_take_what_they_declare(reader, text, value):
    assert reader.read("x", text) == value


@pytest.mark.parametrize("reader, text", [
    (Seconds(30.0), "nan"), (Seconds(30.0), "inf"), (Seconds(30.0), "1e3"), (Seconds(30.0), "-1"),
    (Seconds(30.0), "٣"), (Seconds(30.0), "2."), (Flag(), "True"), (Choice(("running",)), "Running"),
    (Text(r"[a-f0-9]{1,16}", "a version"), "ab12 "), (Whole(1, 5), "0"), (Whole(1, 5), "6"),
])
def test_readers_refuse_anything_else(reader, text):
    with pytest.raises(InputError) as info:
        reader.read("x", text)
    assert info.value.status == 400 and "'x'" in info.value.message or "Unknown" in info.value.message


def nested(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


def test_bodies_over_the_limit_are_413_stating_it():
    with pytest.raises(InputError) as info:
        read_json(b" " * (MAX_BODY_BYTES + 1))
    assert info.value.status == 413
    assert f"{MAX_BODY_BYTES + 1:,} bytes; at most {MAX_BODY_BYTES:,}" in info.value.message


@pytest.mark.parametrize("body", [nested(MAX_JSON_DEPTH + 1), nested(100_000),
                                  b'{"a":' * 50_000 + b"1" + b"}" * 50_000])
def test_deep_json_is_a_400_not_a_recursion_error(body):
    with pytest.raises(InputError) as info:
        read_json(body)
    assert info.value.status == 400 and f"more than {MAX_JSON_DEPTH} levels" in info.value.message


@pytest.mark.parametrize("body", [b"{", b"\xff", b'{"nodes": NaN}', b'{"nodes": Infinity}', b"1" * 5000])
def test_what_is_not_json_is_a_400(body):
    with pytest.raises(InputError, match="not valid JSON") as info:
        read_json(body)
    assert info.value.status == 400


def test_json_bodies_read():
    assert read_json(b"") is None
    assert read_json(nested(MAX_JSON_DEPTH)) is not None
    spec = {"kind": "job", "script": "x", "gpus": {"type": "A100", "count": 1}, "cluster": ["a", "b"]}
    assert read_json(json.dumps(spec).encode()) == spec
    assert [depth(v) for v in (1, [], {"a": [1, {"b": []}]}, [[[]]])] == [0, 1, 4, 3]


def test_allow_lists_the_methods_a_handler_implements():
    class Jobs(web.RequestHandler):
        def get(self): ...

        def post(self): ...

    assert allowed_methods(Jobs, web.RequestHandler) == ["GET", "POST"]
    assert allowed_methods(web.RequestHandler, web.RequestHandler) == []


def _documented_queries() -> dict[str, dict[str, dict]]:
    """``{path: {parameter: schema}}`` of the query parameters of each GET in the OpenAPI document."""
    doc = yaml.safe_load(OPENAPI.read_text())

    def resolved(param: dict) -> dict:
        if "$ref" in param:
            return doc["components"]["parameters"][param["$ref"].rsplit("/", 1)[1]]
        return param

    found = {}
    for path, item in doc["paths"].items():
        params = [resolved(p) for p in item.get("get", {}).get("parameters", [])]
        found[path] = {p["name"]: p["schema"] for p in params if p["in"] == "query"}
    return found


def test_the_document_declares_exactly_what_the_handlers_take():
    documented = _documented_queries()
    for pattern, handler, _ in routes("/", None):
        if not pattern.startswith("/api/v1/") or "get" not in handler.__dict__:
            continue
        path = re.sub(r"\(\?P<job_id>\[\^/\]\+\)", "{id}", pattern[len("/api/v1"):]).rstrip("/?")
        table = handler.queries.get("GET", {})
        assert set(table) == set(documented[path]), path
        for name, reader in table.items():
            schema = documented[path][name]
            if isinstance(reader, Whole):
                assert (schema["minimum"], schema["maximum"]) == (reader.minimum, reader.maximum), name
            elif isinstance(reader, Text):
                assert schema["pattern"] == f"^{reader.pattern}$", name
            elif isinstance(reader, Choice):
                assert tuple(schema["enum"]) == reader.choices, name
            elif isinstance(reader, Flag):
                assert schema["type"] == "boolean", name
            elif isinstance(reader, Seconds):
                assert re.fullmatch(schema["pattern"], "2.5") and not re.fullmatch(schema["pattern"], "1e3")
