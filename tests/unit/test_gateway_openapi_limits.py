"""The OpenAPI document states the limits the job checks enforce (no drift between them)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from fedspawner.gateway import app
from fedspawner.jobs import checks, validation
from fedspawner.jobs.spec import KINDS, LANGUAGES

SPEC = yaml.safe_load(Path(app.__file__).with_name("openapi.yaml").read_text())
FIELDS = SPEC["components"]["schemas"]["JobSpec"]["properties"]


@pytest.mark.parametrize(("path", "value"), [
    (("name", "maxLength"), checks.MAX_NAME_LENGTH),
    (("script", "maxLength"), checks.MAX_SCRIPT_BYTES),
    (("nodes", "maximum"), checks.MAX_NODES),
    (("executors", "maximum"), checks.MAX_EXECUTORS),
    (("retries", "maximum"), checks.MAX_RETRIES),
    (("timeout", "maximum"), checks.MAX_TIMEOUT),
    (("env", "maxProperties"), checks.MAX_ENV),
    (("conf", "maxProperties"), checks.MAX_CONF),
    (("packages", "maxItems"), checks.MAX_PACKAGES),
])
def test_limit_matches_the_check(path, value):
    field, key = path
    assert FIELDS[field][key] == value


def test_nested_limits_and_enums_match():
    assert FIELDS["kind"]["enum"] == list(KINDS)
    assert FIELDS["language"]["enum"] == list(LANGUAGES)
    assert FIELDS["env"]["additionalProperties"]["maxLength"] == checks.MAX_ENV_VALUE
    assert FIELDS["packages"]["items"]["maxLength"] == checks.MAX_PACKAGE_LENGTH
    gpu_object = FIELDS["gpus"]["oneOf"][1]["properties"]
    assert gpu_object["count"]["maximum"] == checks.MAX_GPUS_PER_NODE
    assert FIELDS["cpu"]["oneOf"][1]["maximum"] == checks.MAX_CPU_CORES


@pytest.mark.parametrize(("field", "pattern"), [
    ("image", checks._IMAGE.pattern),
    ("name", validation.DNS1035_LABEL.pattern),
])
def test_patterns_match_the_checks(field, pattern):
    assert FIELDS[field]["pattern"] == pattern


def test_package_pattern_matches_the_check():
    assert FIELDS["packages"]["items"]["pattern"] == checks._PACKAGE.pattern
    assert re.compile(FIELDS["gpus"]["oneOf"][1]["properties"]["type"]["pattern"]).pattern == \
        checks._GPU_TYPE.pattern


def test_dataset_pattern_matches_the_core():
    from fedspawner.federation.datasets import DATASET_RE

    assert FIELDS["dataset"]["pattern"] == DATASET_RE.pattern
