"""Every kind × backend renders manifests a real apiserver accepts, with the real CRDs installed.

The CRDs of Kubeflow Trainer v2.3.0 (TrainJob) and the Spark operator v2.5.2
(SparkApplication) come from the Go module proxy
at test time (cached under ~/.cache/fedspawner/gomod, never committed) and are
installed in the ``burst`` cluster for this module only. No operator runs: objects are
created (server-side dry run with the namespace credential, then for real through the
gateway) to prove the apiserver accepts them, and the gateway picks those backends by
API discovery.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml
from kubernetes_asyncio import client

from fedspawner.federation import gpus
from fedspawner.gateway import kube
from fedspawner.jobs import GpuScheduling, JobSpec, RenderTarget, kinds
from fedspawner.jobs.render import render
from fedspawner.sandbox.binaries import cache_root

from .sandbox_fixtures import api_client
from .test_gateway_support import gone, leftovers

pytestmark = pytest.mark.sandbox

CLUSTER = "burst"
CRD_SOURCES = {
    "github.com/kubeflow/trainer/v2@v2.3.0": [
        "manifests/base/crds/trainer.kubeflow.org_trainjobs.yaml"],
    "github.com/kubeflow/spark-operator/v2@v2.5.2": [
        "config/crd/bases/sparkoperator.k8s.io_sparkapplications.yaml"],
}
#: Every kind × backend the registry declares.
COMBOS = [(name, backend.name) for name in kinds.KINDS for backend in kinds.get(name).backends]


def crd_manifests() -> list[dict]:
    """The CRDs, from the Go module proxy (``go mod download``), cached."""
    env = dict(os.environ, GOMODCACHE=str(cache_root() / "gomod"), GOFLAGS="-mod=mod")
    found = []
    with tempfile.TemporaryDirectory() as outside_any_module:
        for module, files in CRD_SOURCES.items():
            proc = subprocess.run(["go", "mod", "download", "-json", module], capture_output=True, text=True,
                                  env=env, cwd=outside_any_module, timeout=600)
            assert proc.returncode == 0, proc.stderr or proc.stdout
            root = Path(json.loads(proc.stdout)["Dir"])
            found += [yaml.safe_load((root / name).read_text()) for name in files]
    return found


@pytest.fixture(scope="module")
async def operator_crds(sandbox):
    """The four CRDs installed on ``burst`` while this module runs."""
    crds = await asyncio.to_thread(crd_manifests)
    async with api_client(sandbox.kubeconfig, f"{CLUSTER}-admin") as api:
        ext = client.ApiextensionsV1Api(api)
        for crd in crds:
            try:
                await ext.create_custom_resource_definition(crd)
            except client.ApiException as err:
                assert err.status == 409, err
        for crd in crds:
            for _ in range(100):
                got = await ext.read_custom_resource_definition(crd["metadata"]["name"])
                if any(c.type == "Established" and c.status == "True" for c in got.status.conditions or []):
                    break
                await asyncio.sleep(0.1)
        try:
            yield [c["metadata"]["name"] for c in crds]
        finally:
            for crd in crds:
                try:
                    await ext.delete_custom_resource_definition(crd["metadata"]["name"])
                except client.ApiException as err:
                    if err.status != 404:
                        raise


def burst_h100() -> GpuScheduling:
    """How ``burst`` (GKE labels, tainted GPU nodes) is asked for an H100."""
    offer = gpus.scheduling_for("nvidia-h100-80gb", "gke")
    affinity = gpus.node_affinity([offer])
    return GpuScheduling(resource=offer.resource, node_affinity=affinity["nodeAffinity"],
                         tolerations=tuple(offer.tolerations))


@pytest.mark.parametrize("kind, backend", COMBOS)
@pytest.mark.parametrize("with_gpus", [False, True], ids=["cpu", "gpu"])
async def test_rendered_manifests_are_accepted_by_the_apiserver(operator_crds, hub_api, sandbox, kind,
                                                                backend, with_gpus):
    name = f"{kind[:5]}-{backend.replace('-', '')[:6]}"
    spec = JobSpec.from_dict({"kind": kind, "name": name, "script": "print('hi')\n",
                              "packages": ["numpy"], "env": {"LR": "0.1"}, "timeout": 600,
                              "gpus": "nvidia-h100-80gb:2" if with_gpus else None,
                              **({"nodes": 2} if "nodes" in kinds.get(kind).options else {"executors": 2})})
    target = RenderTarget(namespace=sandbox.namespace, job_id="j-dryrun22", owner="alice@example.org",
                          backend=backend, gpu=burst_h100() if with_gpus else None,
                          gpu_type="nvidia-h100-80gb" if with_gpus else None)
    async with hub_api(CLUSTER) as api:  # the namespace-scoped credential the gateway holds
        for manifest in render(spec, target):
            created = await kube.create(api, manifest, dry_run=True)
            assert created["metadata"]["name"] == manifest["metadata"]["name"]
            assert created["metadata"]["labels"]["fedspawner.dev/job-id"] == "j-dryrun22"


async def test_the_gateway_uses_the_operators_the_cluster_offers(operator_crds, gw, token_for, admin_api,
                                                                 sandbox):
    alice = token_for("alice")
    for _ in range(60):  # the demo gateway caches discovery for 10 s
        status, answer = await gw.call("GET", "/clusters", alice)
        burst = next(c for c in answer["clusters"] if c["name"] == CLUSTER)
        if {"trainjob", "sparkapplication"} <= set(burst["backends"]):
            break
        await asyncio.sleep(0.5)
    assert {"trainjob", "sparkapplication"} <= set(burst["backends"]), burst
    expected = {"pytorch": ("trainjob", "TrainJob"), "spark": ("sparkapplication", "SparkApplication")}
    for kind, (backend, resource_kind) in expected.items():
        job = await gw.submit(alice, {"kind": kind, "script": "print('hi')\n", "cluster": CLUSTER})
        assert job["backend"] == backend, job
        made = await leftovers(admin_api, CLUSTER, sandbox.namespace, job["id"])
        assert any(m.startswith("ConfigMap/") for m in made), made
        assert any(m.startswith(f"{resource_kind}/") for m in made), made
        listed = await gw.job(alice, job["id"])
        assert (listed["backend"], listed["phase"], listed["cluster"]) == (backend, "Pending", CLUSTER)
        await gw.cancel(alice, job["id"])
        assert await gone(admin_api, CLUSTER, sandbox.namespace, job["id"]) == []
