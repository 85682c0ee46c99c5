"""The gateway's view of rendered objects: the resource each belongs to, and where a job keeps it."""

from __future__ import annotations

import pytest

from fedspawner.gateway import kube
from fedspawner.gateway.identity import JobRecord, anchor_patch
from fedspawner.gateway.model import JobObjects
from fedspawner.jobs import JobSpec, RenderTarget, kinds
from fedspawner.jobs.labels import job_selector
from fedspawner.jobs.render import CRD_FOR_BACKEND, CUSTOM_RESOURCES, render

COMBOS = [(name, backend.name) for name in kinds.KINDS for backend in kinds.get(name).backends]


@pytest.mark.parametrize("kind, backend", COMBOS)
def test_every_rendered_object_has_its_resource_and_place(kind, backend):
    spec = JobSpec.from_dict({"kind": kind, "name": "demo", "script": "print(1)"})
    target = RenderTarget(namespace="ns", job_id="j-abcd2345", owner="alice", backend=backend)
    rendered = anchor_patch(render(spec, target), JobRecord.for_spec(spec, None, frozenset(), False), spec)
    job = JobObjects("j-abcd2345", "onprem", "ns")
    for manifest in rendered:
        assert kube.resource_for(manifest).kind == manifest["kind"]
        job.add(manifest)
    assert job.anchor is rendered[0] and job.record is not None
    workloads = [m["kind"] for m in rendered if m["kind"] not in ("ConfigMap", "Service")]
    assert [w["kind"] for w in job.workloads] == workloads
    assert job.primary() is not None and all(o["kind"] == "Service" for o in job.others)


def test_custom_resources_are_the_renderers():
    for backend, custom in CUSTOM_RESOURCES.items():
        resource = kube.Resource.rendered(backend)
        expected = (custom.api_version, custom.kind, CRD_FOR_BACKEND[backend])
        assert (resource.api_version, resource.kind, resource.crd) == expected
        assert resource in kube.WORKLOAD_CUSTOM and kube.BY_KIND[custom.kind] == resource


def test_pods_and_other_configmaps_land_in_their_place():
    job = JobObjects("j-abcd2345", "onprem", "ns")
    job.add({"kind": "Pod", "metadata": {"name": "p"}})
    job.add({"kind": "ConfigMap", "metadata": {"name": "not-the-anchor"}})
    job.add({"kind": "JobSet", "metadata": {"name": "js"}})
    assert job.anchor is None and [p["metadata"]["name"] for p in job.pods] == ["p"]
    assert [o["kind"] for o in job.others] == ["ConfigMap", "JobSet"]


def test_selectors():
    assert kube.selector(job_selector("j-abcd2345")) == \
        "app.kubernetes.io/managed-by=fedspawner,fedspawner.dev/job-id=j-abcd2345"
