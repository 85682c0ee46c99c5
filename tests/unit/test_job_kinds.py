"""The registry of job kinds and everything that derives from it or is pinned to it (pure).

Registry ↔ spec ↔ option schema ↔ OpenAPI document ↔ RBAC rows ↔ gateway watches ↔ the Lab's
settings schema, and no kind tests left in the UIs: adding a kind module is all it takes.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from fedspawner.federation.rbac import HUB_PERMISSIONS
from fedspawner.gateway import kube
from fedspawner.gateway.status import expected_pods, job_view
from fedspawner.jobs import JobSpec, JobSpecError, kinds, spec
from fedspawner.jobs.kinds import KINDS, base
from fedspawner.jobs.options import option, render_schema
from fedspawner.jobs.render import target
from fedspawner.jobs.render.spark_connect_backends import session_rbac_rows

ROOT = Path(__file__).resolve().parents[2]
OPENAPI = yaml.safe_load((ROOT / "fedspawner/gateway/openapi.yaml").read_text())["components"]["schemas"]


def test_every_kind_module_is_registered_once():
    modules = sorted(p.stem for p in (ROOT / "fedspawner/jobs/kinds").glob("*.py") if p.stem not in
                     ("__init__", "base"))
    assert sorted(KINDS) == modules
    assert all(kinds.get(name).name == name for name in KINDS)


def test_the_spec_takes_its_kinds_and_images_from_the_registry():
    assert spec.KINDS == KINDS
    assert dict(spec.DEFAULT_IMAGES) == {name: kinds.get(name).default_image for name in KINDS}
    for name in KINDS:
        assert JobSpec.from_dict({"kind": name, "script": "print(1)"}).image == kinds.get(name).default_image


def test_the_option_schema_takes_each_options_kinds_from_the_registry():
    schema = render_schema(["a"], [])
    assert schema["kinds"] == list(KINDS) == option("kind").constraints["choices"]
    assert schema["removed_kinds"] == dict(kinds.REMOVED_KINDS)
    by_name = {o["name"]: o for o in schema["options"]}
    for name in base.KIND_OPTIONS:
        assert by_name[name]["kinds"] == [k for k in KINDS if name in kinds.get(k).options], name
    for opt in schema["options"]:
        if opt["name"] not in base.KIND_OPTIONS:
            assert opt["kinds"] == list(KINDS), opt["name"]
    assert by_name["language"]["choices_by_kind"] == {k: list(kinds.get(k).languages) for k in KINDS}
    assert by_name["image"]["default"] == dict(spec.DEFAULT_IMAGES)
    for name in KINDS:
        assert kinds.get(name).summary in by_name["kind"]["help"]


def test_the_openapi_enums_are_the_registrys():
    assert OPENAPI["JobSpec"]["properties"]["kind"]["enum"] == list(KINDS)
    assert OPENAPI["Job"]["properties"]["backend"]["enum"] == list(kinds.BACKENDS)
    assert OPENAPI["Pod"]["properties"]["role"]["enum"] == list(kinds.pod_roles())
    assert {"expected_pods", "leader"} <= set(OPENAPI["Job"]["properties"])


def test_render_targets_accept_exactly_the_registrys_backends():
    assert set(target.BACKENDS) == set(kinds.BACKENDS)


def test_the_hub_role_grants_every_row_the_kinds_need_and_none_for_removed_operators():
    granted = set(HUB_PERMISSIONS)
    for row in kinds.rbac_rows():
        assert row in granted, row
    groups = {r.group for r in kinds.workload_resources() + kinds.owned_resources()}
    operator_rows = {(p.group, p.resource) for p in HUB_PERMISSIONS if p.group in groups}
    assert set(session_rbac_rows()) <= granted  # interactive Spark sessions' backends
    assert operator_rows == {(r.group, r.resource) for r in (*kinds.rbac_rows(), *session_rbac_rows())}
    assert not [p for p in HUB_PERMISSIONS if p.group == "kubeflow.org"]  # Training Operator v1


@pytest.mark.parametrize("name", KINDS)
def test_every_custom_resource_of_a_kind_has_its_rbac_row_and_is_watched(name):
    watched = {(r.group, r.plural) for r in kube.CUSTOM}
    for backend in kinds.get(name).backends:
        rows = {(p.group, p.resource) for p in backend.rbac}
        for resource in (backend.resource, *backend.owned):
            if resource is not None:
                assert (resource.group, resource.plural) in rows, (name, backend.name)
                assert (resource.group, resource.plural) in watched, (name, backend.name)
        if backend.resource:
            assert kube.BY_KIND[backend.resource.kind].kind in kube.WORKLOAD_KINDS


def test_every_kind_runs_somewhere_without_an_operator():
    for name in KINDS:
        assert kinds.backends_for(name, []), name


def test_the_lab_settings_offer_the_registrys_kinds():
    settings = json.loads((ROOT / "labextension/schema/plugin.json").read_text())
    kind = settings["properties"]["defaultKind"]
    assert kind["enum"] == list(KINDS) and kind["default"] in KINDS


#: ``kind == 'spark'``, ``job.kind === "pytorch"``, ``kind in ("spark", ...)``: what the UIs must not test.
KIND_TEST = re.compile(r"""kind\s*(===?|!==?|in)\s*[\(\[]?\s*['"](?:%s)['"]""" % "|".join(KINDS + ("tensorflow",)))


@pytest.mark.parametrize("path", ["fedspawner/client/widget.py", "fedspawner/client/view.py",
                                  "labextension/src/format.ts", "labextension/src/jobview.ts",
                                  "labextension/src/schema.ts", "fedspawner/gateway/status.py",
                                  "fedspawner/gateway/planning.py", "fedspawner/gateway/logs.py",
                                  "fedspawner/jobs/checks.py", "fedspawner/jobs/options.py"])
def test_no_kind_is_tested_by_name_outside_its_module(path):
    assert KIND_TEST.findall("KIND_TEST self-check: kind == 'spark'")
    assert not KIND_TEST.findall((ROOT / path).read_text()), path


@pytest.mark.parametrize("name", KINDS)
def test_the_job_view_carries_the_kinds_view_fields(name):
    from .test_gateway_status import objects, record
    rec = record(kind=name, nodes=1, executors=2 if "executors" in kinds.get(name).options else None)
    view = job_view(objects([], rec=rec))
    its = kinds.get(name)
    assert view["leader"] == its.leader
    assert view["expected_pods"] == its.expected_pods(rec.nodes, rec.executors) == expected_pods(objects([], rec=rec))


def test_spark_counts_its_driver_and_places_its_gang_by_gpus():
    spark = kinds.get("spark")
    assert spark.expected_pods(1, 3) == 4 and spark.leader == "driver"
    assert spark.gang_pods(1, 3, gpus=0) == 4 and spark.gang_pods(1, 3, gpus=1) == 3
    pytorch = kinds.get("pytorch")
    assert pytorch.expected_pods(2, None) == pytorch.gang_pods(2, None, 1) == 2 and pytorch.leader == "rank 0"


@pytest.mark.parametrize("removed", sorted(kinds.REMOVED_KINDS))
def test_removed_kinds_say_why_and_what_instead(removed):
    assert removed not in KINDS
    with pytest.raises(JobSpecError) as info:
        kinds.get(removed)
    assert info.value.field == "kind" and "kind 'pytorch'" in info.value.message
