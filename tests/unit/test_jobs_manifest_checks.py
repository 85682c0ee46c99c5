"""Strict checks for rendered manifests, shared by the render tests (and tested here).

``structural_errors`` walks a dict against the Kubernetes API types that
``kubernetes_asyncio`` generates from the OpenAPI spec and reports unknown
fields (which the API server would reject or silently drop) and wrong types.
``pod_templates`` finds every pod template in an object, including those
nested in custom resources, and ``manifest_problems`` applies the rules every
rendered object must keep.
"""

from __future__ import annotations

import re
from typing import Any

from kubernetes_asyncio.client import models

from fedspawner.jobs.labels import (
    ANNOTATION_OWNER_NAME,
    LABEL_BACKEND,
    LABEL_COMPONENT,
    LABEL_JOB_ID,
    LABEL_JOB_NAME,
    LABEL_KIND,
    LABEL_MANAGED_BY,
    LABEL_OWNER,
)
from fedspawner.jobs.validation import (
    is_dns1035_label,
    is_dns1123_subdomain,
    is_label_key,
    is_label_value,
    owner_label_value,
)

CORE_KINDS = {"ConfigMap": "V1ConfigMap", "Service": "V1Service", "Job": "V1Job"}
_LIST = re.compile(r"^list\[(.+)\]$")
_DICT = re.compile(r"^dict\(str, (.+)\)$")


def structural_errors(data: Any, klass: str, path: str = "") -> list[str]:
    """Unknown fields and type mismatches of ``data`` against API type ``klass``."""
    errors: list[str] = []
    _walk(data, klass, path or klass, errors)
    return errors


def _walk(data: Any, klass: str, path: str, errors: list[str]) -> None:
    if klass == "object":
        return
    if klass == "str":
        if not isinstance(data, str):
            errors.append(f"{path}: expected a string, got {data!r}")
        return
    if klass == "int":
        if isinstance(data, bool) or not isinstance(data, int):
            errors.append(f"{path}: expected an integer, got {data!r}")
        return
    if klass == "bool":
        if not isinstance(data, bool):
            errors.append(f"{path}: expected a boolean, got {data!r}")
        return
    if klass in ("float", "datetime", "date"):
        return
    if match := _LIST.match(klass):
        if not isinstance(data, list):
            errors.append(f"{path}: expected a list")
            return
        for index, item in enumerate(data):
            _walk(item, match.group(1), f"{path}[{index}]", errors)
        return
    if match := _DICT.match(klass):
        if not isinstance(data, dict):
            errors.append(f"{path}: expected a mapping")
            return
        for key, item in data.items():
            _walk(item, match.group(1), f"{path}.{key}", errors)
        return
    model = getattr(models, klass)
    if not isinstance(data, dict):
        errors.append(f"{path}: expected an object ({klass})")
        return
    by_json = {json_name: attr for attr, json_name in model.attribute_map.items()}
    for key, value in data.items():
        if key not in by_json:
            errors.append(f"{path}: unknown field {key!r} for {klass}")
            continue
        _walk(value, model.openapi_types[by_json[key]], f"{path}.{key}", errors)


def pod_templates(obj: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """``(where, template)`` for every pod template in ``obj``."""
    kind, spec = obj["kind"], obj.get("spec", {})
    if kind == "Job":
        return [("spec.template", spec["template"])]
    if kind == "SparkApplication":
        return [("driver.template", spec["driver"]["template"]),
                ("executor.template", spec["executor"]["template"])]
    if kind == "TrainJob":
        found = []
        for patch in spec["runtimePatches"]:
            for job in patch["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"]:
                found.append((f"runtimePatches.{job['name']}", job["template"]["spec"]["template"]))
        return found
    return []


def containers_of(template: dict[str, Any]) -> list[dict[str, Any]]:
    """Init containers and containers of a pod template."""
    spec = template.get("spec", {})
    return [*spec.get("initContainers", []), *spec.get("containers", [])]


def manifest_problems(objects: list[dict[str, Any]], *, job_id: str, owner: str, kind: str,
                      backend: str, namespace: str, name: str) -> list[str]:
    """Every rule a rendered object breaks (an empty list when all is well)."""
    problems: list[str] = []
    expected = {
        LABEL_MANAGED_BY: "fedspawner", LABEL_JOB_ID: job_id, LABEL_OWNER: owner_label_value(owner),
        LABEL_KIND: kind, LABEL_BACKEND: backend, LABEL_JOB_NAME: name,
    }
    for obj in objects:
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        meta = obj["metadata"]
        if obj["kind"] in ("Service", "TrainJob", "SparkApplication"):
            if not is_dns1035_label(meta["name"]):
                problems.append(f"{where}: name is not an RFC 1035 label")
        elif not is_dns1123_subdomain(meta["name"]) or len(meta["name"]) > 63:
            problems.append(f"{where}: name is not valid")
        if meta.get("namespace") != namespace:
            problems.append(f"{where}: wrong namespace")
        problems += _metadata_problems(where, meta, expected)
        if obj["kind"] in CORE_KINDS:
            problems += structural_errors(obj, CORE_KINDS[obj["kind"]], where)
        if obj["kind"] == "Job":
            job = obj["spec"]
            if job.get("completionMode") == "Indexed":
                host = f"{meta['name']}-{job['completions'] - 1}"
                if len(host) > 63:
                    problems.append(f"{where}: pod host name {host} is too long")
        for path, template in pod_templates(obj):
            at = f"{where} {path}"
            problems += _metadata_problems(at, template.get("metadata", {}), expected)
            if LABEL_COMPONENT not in template.get("metadata", {}).get("labels", {}):
                problems.append(f"{at}: no component label")
            problems += structural_errors(template, "V1PodTemplateSpec", at)
            problems += _pod_problems(at, template, obj)
    return problems


def _metadata_problems(where: str, meta: dict[str, Any], expected: dict[str, str]) -> list[str]:
    problems = []
    labels, annotations = meta.get("labels", {}), meta.get("annotations", {})
    for key, value in expected.items():
        if labels.get(key) != value:
            problems.append(f"{where}: label {key} is {labels.get(key)!r}, expected {value!r}")
    for key, value in labels.items():
        if not is_label_key(key) or not is_label_value(value):
            problems.append(f"{where}: invalid label {key}={value!r}")
    if ANNOTATION_OWNER_NAME not in annotations:
        problems.append(f"{where}: no owner-name annotation")
    for key in annotations:
        if not is_label_key(key):
            problems.append(f"{where}: invalid annotation key {key}")
    return problems


def _pod_problems(where: str, template: dict[str, Any], obj: dict[str, Any]) -> list[str]:
    problems = []
    spec = template.get("spec", {})
    for forbidden in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(forbidden):
            problems.append(f"{where}: {forbidden}")
    for volume in spec.get("volumes", []):
        if "hostPath" in volume:
            problems.append(f"{where}: hostPath volume {volume['name']}")
    volume_names = {volume["name"] for volume in spec.get("volumes", [])}
    spark_operator = obj["kind"] == "SparkApplication"
    trainjob = obj["kind"] == "TrainJob"
    for container in containers_of(template):
        at = f"{where} container {container.get('name')}"
        security = container.get("securityContext", {})
        if security.get("privileged") is not False or security.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{at}: may be privileged")
        for mount in container.get("volumeMounts", []):
            if mount["name"] not in volume_names:
                problems.append(f"{at}: mounts unknown volume {mount['name']}")
        # Spark sets the driver's and executors' CPU and memory from the
        # SparkApplication, and the Trainer the node's from resourcesPerNode.
        managed = (spark_operator or trainjob) and container in spec.get("containers", [])
        if not managed:
            requests = container.get("resources", {}).get("requests", {})
            if "cpu" not in requests or "memory" not in requests:
                problems.append(f"{at}: no CPU/memory requests")
            if not container.get("image"):
                problems.append(f"{at}: no image")
    return problems


# -- the checker's own tests -------------------------------------------------------------------


def test_structural_errors_accepts_a_valid_job():
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "x"},
           "spec": {"template": {"spec": {"containers": [{"name": "a", "image": "b"}]}}}}
    assert structural_errors(job, "V1Job") == []


def test_structural_errors_finds_unknown_fields_and_wrong_types():
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "x", "lables": {}},
           "spec": {"completions": "2", "template": {"spec": {
               "containers": [{"name": "a", "image": "b", "env": [{"name": "X", "value": 1}]}]}}}}
    errors = structural_errors(job, "V1Job")
    assert any("'lables'" in error for error in errors)
    assert any("completions: expected an integer" in error for error in errors)
    assert any("env[0].value: expected a string" in error for error in errors)


def test_manifest_problems_catch_missing_labels_and_privilege():
    job = {"apiVersion": "batch/v1", "kind": "Job",
           "metadata": {"name": "x", "namespace": "ns", "labels": {}, "annotations": {}},
           "spec": {"template": {"metadata": {}, "spec": {
               "hostNetwork": True, "volumes": [{"name": "h", "hostPath": {"path": "/"}}],
               "containers": [{"name": "a", "image": "b", "securityContext": {"privileged": True}}]}}}}
    problems = manifest_problems([job], job_id="j", owner="o", kind="job", backend="indexed-job",
                                 namespace="ns", name="x")
    text = "\n".join(problems)
    for expected in ("label fedspawner.dev/job-id", "owner-name", "hostNetwork", "hostPath",
                     "may be privileged", "no CPU/memory requests", "no component label"):
        assert expected in text
