"""fedspawner's PyTorch jobs through the real Kubeflow Trainer v2 and JobSet on ``onprem``.

``onprem`` runs Trainer and JobSet as local processes (the default topology), so a
``pytorch`` job sent there becomes a TrainJob: Trainer makes the JobSet, JobSet the Job,
the node agent runs the ranks and torchrun's all-reduce must succeed. The hub's credential
is namespace-scoped, so the gateway runs its TrainJobs on the TrainingRuntime it keeps in
the hub's namespace, unless it is allowed to read the cluster's ``torch-distributed``
ClusterTrainingRuntime. What the operators made is checked with the admin credential, as
the cluster's own admins would see it.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from kubernetes_asyncio.client.rest import ApiException

from fedspawner.gateway import kube
from fedspawner.gateway.trainjob import RUNTIMES, choose_runtime, ensure_owned_runtime
from fedspawner.jobs.labels import job_selector
from fedspawner.jobs.render.target import RuntimeRef
from fedspawner.jobs.render.trainer import ANNOTATION_RUNTIME_REVISION, OWNED_RUNTIME, TORCH_RUNTIME

from .kube_helpers import wait_for
from .test_gateway_support import DDP_SCRIPT, first_line_with, gone, leftovers, watched

pytestmark = pytest.mark.sandbox

CLUSTER = "onprem"
HUB_ACCOUNT = "system:serviceaccount:fedspawner:fedspawner-hub"
TRAINJOBS = kube.TRAINJOBS
#: What Trainer and JobSet make for a TrainJob, some without fedspawner's labels (found by name).
MADE = (TRAINJOBS, kube.JOBSETS, kube.JOBS, kube.PODS, kube.CONFIGMAPS, kube.SERVICES)
RANK_SCRIPT = "import os, time\nprint('rank', os.environ['FEDSPAWNER_RANK'], 'ran', flush=True)\ntime.sleep({})\n"


async def trainjob_of(admin_api, namespace: str, job_id: str) -> dict:
    """The job's TrainJob, as the cluster's admin reads it."""
    async with admin_api(CLUSTER) as api:
        found = await kube.list_objects(api, TRAINJOBS, namespace, kube.selector(job_selector(job_id)))
    assert len(found) == 1, found
    return found[0]


async def made_for(admin_api, namespace: str, name: str) -> list[str]:
    """Every object named after the TrainJob ``name`` (the TrainJob, what Trainer and JobSet made)."""
    left = []
    async with admin_api(CLUSTER) as api:
        for resource in MADE:
            items = (await kube.request(api, "GET", resource.path(namespace))).get("items") or []
            left += [f"{resource.kind}/{o['metadata']['name']}" for o in items
                     if o["metadata"]["name"] == name or o["metadata"]["name"].startswith(f"{name}-")]
    return left


async def all_gone(admin_api, namespace: str, name: str, timeout: float = 60) -> list[str]:
    deadline = time.monotonic() + timeout
    while (left := await made_for(admin_api, namespace, name)) and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
    return left


async def test_pytorch_job_runs_as_a_trainjob_with_ranks_logs_and_progress(gw, token_for, admin_api, sandbox):
    alice = token_for("alice")
    job = await gw.submit(alice, {"kind": "pytorch", "name": "ddp-trainer", "script": DDP_SCRIPT, "nodes": 2,
                                  "cluster": CLUSTER, "cpu": "1", "memory": "2Gi"})
    assert (job["cluster"], job["backend"], job["nodes"]) == (CLUSTER, "trainjob", 2)
    views = await watched(gw, alice, job["id"])
    final = views[-1]
    assert final["phase"] == "Succeeded", final["message"]
    seen = [job, *views]
    steps = [v["phase"] for i, v in enumerate(seen) if i == 0 or seen[i - 1]["phase"] != v["phase"]]
    assert steps == ["Pending", "Running", "Succeeded"], steps
    assert final["progress"]["step"] == 3 and final["progress"]["total"] == 3
    assert [(p["rank"], p["phase"]) for p in final["pods"]] == [(0, "Succeeded"), (1, "Succeeded")]
    for rank in (0, 1):
        log = await gw.text(f"/jobs/{job['id']}/logs?rank={rank}", alice)
        assert first_line_with(log, f"rank {rank} of 2: all-reduced value = 3.0"), log

    trainjob = await trainjob_of(admin_api, sandbox.namespace, job["id"])
    meta, spec = trainjob["metadata"], trainjob["spec"]
    # The hub's Role cannot read ClusterTrainingRuntimes: the job ran on the runtime fedspawner keeps.
    assert spec["runtimeRef"] == {"name": OWNED_RUNTIME, "kind": "TrainingRuntime", "apiGroup": "trainer.kubeflow.org"}
    assert meta["labels"]["app.kubernetes.io/managed-by"] == "fedspawner"
    assert meta["labels"]["app.kubernetes.io/name"] == "pytorch"
    assert meta["labels"]["app.kubernetes.io/instance"] == meta["name"]
    conditions = {c["type"]: c["status"] for c in trainjob["status"]["conditions"]}
    assert conditions.get("Complete") == "True", conditions
    async with admin_api(CLUSTER) as api:
        runtime = await kube.request(api, "GET", RUNTIMES.path(sandbox.namespace, OWNED_RUNTIME))
        jobset = await kube.request(api, "GET", kube.JOBSETS.path(sandbox.namespace, meta["name"]))
        pods = await kube.list_objects(api, kube.PODS, sandbox.namespace,
                                       f"jobset.sigs.k8s.io/jobset-name={meta['name']}")
        fields = await kube.request(api, "GET", TRAINJOBS.path(sandbox.namespace, meta["name"]),
                                    query={"showManagedFields": "true"})
        jobs = await kube.list_objects(api, kube.JOBS, sandbox.namespace,
                                       f"jobset.sigs.k8s.io/jobset-name={meta['name']}")
    assert runtime["metadata"]["labels"]["trainer.kubeflow.org/framework"] == "torch"
    assert [(o["kind"], o["name"]) for o in jobset["metadata"]["ownerReferences"]] == [("TrainJob", meta["name"])]
    assert [j["metadata"]["labels"]["trainer.kubeflow.org/trainjob-ancestor-step"] for j in jobs] == ["trainer"]
    assert len(pods) == 2 and all(p["metadata"]["labels"]["fedspawner.dev/job-id"] == job["id"] for p in pods)
    # Status is Trainer's alone: no one but its controller wrote the status subresource.
    writers = {m["manager"] for m in fields["metadata"].get("managedFields") or [] if m.get("subresource") == "status"}
    assert writers and all("trainer" in w for w in writers), writers
    await gw.cancel(alice, job["id"])
    assert await all_gone(admin_api, sandbox.namespace, meta["name"]) == []


async def test_cancel_deletes_the_trainjob_and_everything_the_operators_made(gw, token_for, admin_api, sandbox):
    bob = token_for("bob")
    job = await gw.submit(bob, {"kind": "pytorch", "name": "sleeper", "script": RANK_SCRIPT.format(600), "nodes": 2,
                                "cluster": CLUSTER})
    assert job["backend"] == "trainjob"
    await gw.wait(bob, job["id"], phases=("Running",), timeout=120)
    name = (await trainjob_of(admin_api, sandbox.namespace, job["id"]))["metadata"]["name"]
    before = await made_for(admin_api, sandbox.namespace, name)
    kinds = {entry.split("/")[0] for entry in before}
    assert kinds >= {"TrainJob", "JobSet", "Job", "Pod", "ConfigMap", "Service"}, before
    began = time.monotonic()
    cancelled = await gw.cancel(bob, job["id"])
    assert cancelled["phase"] == "Cancelled"
    assert await all_gone(admin_api, sandbox.namespace, name) == []
    assert await gone(admin_api, CLUSTER, sandbox.namespace, job["id"]) == []
    print(f"everything Trainer and JobSet made was gone {time.monotonic() - began:.1f}s after the cancel")


async def test_a_failing_rank_fails_the_trainjob_at_once_and_says_which(gw, token_for):
    alice = token_for("alice")
    script = "import os, sys\nprint('rank', os.environ['FEDSPAWNER_RANK'], flush=True)\n" \
             "sys.exit(3 if os.environ['FEDSPAWNER_RANK'] == '1' else 0)\n"
    job = await gw.submit(alice, {"kind": "pytorch", "name": "broken", "script": script, "nodes": 2,
                                  "cluster": CLUSTER})
    began = time.monotonic()
    done = await gw.wait(alice, job["id"], timeout=120)
    assert done["phase"] == "Failed", done
    assert done["message"].startswith("rank 1 failed: "), done["message"]
    assert time.monotonic() - began < 90  # the runtime fedspawner keeps does not retry a lost gang
    await gw.cancel(alice, job["id"])


async def test_a_suspended_trainjob_says_so_and_runs_once_resumed(gw, token_for, admin_api, sandbox):
    alice = token_for("alice")
    job = await gw.submit(alice, {"kind": "pytorch", "name": "held", "script": RANK_SCRIPT.format(3), "nodes": 2,
                                  "cluster": CLUSTER})
    name = (await trainjob_of(admin_api, sandbox.namespace, job["id"]))["metadata"]["name"]
    async with admin_api(CLUSTER) as api:  # as a queueing controller (Kueue) would
        await kube.merge_patch(api, TRAINJOBS, sandbox.namespace, name, {"spec": {"suspend": True}})
        deadline = time.monotonic() + 60
        while True:
            view = await gw.job(alice, job["id"])
            if view["message"].startswith("suspended on onprem"):
                break
            assert time.monotonic() < deadline, view
            await asyncio.sleep(0.5)
        assert view["phase"] == "Pending" and view["pods"] == [], view
        assert "Kubeflow Trainer starts it when it is resumed" in view["message"]
        await kube.merge_patch(api, TRAINJOBS, sandbox.namespace, name, {"spec": {"suspend": False}})
    done = await gw.wait(alice, job["id"], timeout=120)
    assert done["phase"] == "Succeeded", done
    await gw.cancel(alice, job["id"])


# ---- which runtime -----------------------------------------------------------------------------


async def test_the_runtime_follows_what_the_hubs_credential_may_see(hub_api, admin_api, sandbox):
    ns = sandbox.namespace
    async with hub_api(CLUSTER) as hub, admin_api(CLUSTER) as admin:
        owned = RuntimeRef("TrainingRuntime", OWNED_RUNTIME)
        assert await choose_runtime(hub, ns) == owned
        path = RUNTIMES.path(ns, OWNED_RUNTIME)
        first = await kube.request(admin, "GET", path)
        assert await ensure_owned_runtime(hub, ns) == owned  # idempotent: nothing written
        assert (await kube.request(admin, "GET", path))["metadata"]["resourceVersion"] == \
            first["metadata"]["resourceVersion"]
        # Someone changed it: it is written back to fedspawner's spec.
        await kube.merge_patch(admin, RUNTIMES, ns, OWNED_RUNTIME, {
            "metadata": {"annotations": {ANNOTATION_RUNTIME_REVISION: "edited"}},
            "spec": {"mlPolicy": {"numNodes": 3}}})
        await ensure_owned_runtime(hub, ns)
        restored = await kube.request(admin, "GET", path)
        assert restored["spec"]["mlPolicy"]["numNodes"] == 1
        assert restored["metadata"]["annotations"][ANNOTATION_RUNTIME_REVISION] == \
            first["metadata"]["annotations"][ANNOTATION_RUNTIME_REVISION]

        # An admin's own torch-distributed runtime in the namespace comes before fedspawner's.
        local = {**restored, "metadata": {"name": TORCH_RUNTIME, "namespace": ns}}
        await kube.request(admin, "POST", RUNTIMES.path(ns), body=local)
        try:
            assert await choose_runtime(hub, ns) == RuntimeRef("TrainingRuntime", TORCH_RUNTIME)
        finally:
            await kube.request(admin, "DELETE", RUNTIMES.path(ns, TORCH_RUNTIME))

        async with cluster_runtimes_readable(admin):
            async def cluster_runtime():  # the apiserver's authorizer sees the new ClusterRole a moment later
                return await choose_runtime(hub, ns) == RuntimeRef("ClusterTrainingRuntime", TORCH_RUNTIME)
            await wait_for(cluster_runtime, "the cluster's runtime once the hub may read it", timeout=30, interval=0.5)


class cluster_runtimes_readable:
    """While inside: the hub's service account may read ClusterTrainingRuntimes (a ClusterRole)."""

    NAME = "fedspawner-test-read-cluster-runtimes"

    def __init__(self, admin):
        self.admin = admin

    async def __aenter__(self):
        rbac = "/apis/rbac.authorization.k8s.io/v1"
        await kube.request(self.admin, "POST", f"{rbac}/clusterroles", body={
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": self.NAME},
            "rules": [{"apiGroups": ["trainer.kubeflow.org"], "resources": ["clustertrainingruntimes"],
                       "verbs": ["get", "list"]}]})
        await kube.request(self.admin, "POST", f"{rbac}/clusterrolebindings", body={
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": self.NAME},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": self.NAME},
            "subjects": [{"kind": "ServiceAccount", "name": HUB_ACCOUNT.split(":")[-1],
                          "namespace": HUB_ACCOUNT.split(":")[2]}]})
        return self

    async def __aexit__(self, *exc):
        rbac = "/apis/rbac.authorization.k8s.io/v1"
        for kind in ("clusterrolebindings", "clusterroles"):
            try:
                await kube.request(self.admin, "DELETE", f"{rbac}/{kind}/{self.NAME}")
            except ApiException as err:
                if err.status != 404:
                    raise


async def test_where_the_hub_may_read_it_jobs_run_on_the_clusters_own_runtime(gw, token_for, admin_api, sandbox):
    alice = token_for("alice")
    async with admin_api(CLUSTER) as admin, cluster_runtimes_readable(admin):
        deadline = time.monotonic() + 60  # the gateway looks at a cluster's runtimes again after 10 s
        while True:
            job = await gw.submit(alice, {"kind": "pytorch", "name": "on-cluster-runtime", "cluster": CLUSTER,
                                          "script": RANK_SCRIPT.format(0), "nodes": 2})
            ref = (await trainjob_of(admin_api, sandbox.namespace, job["id"]))["spec"]["runtimeRef"]
            if ref["kind"] == "ClusterTrainingRuntime" or time.monotonic() > deadline:
                break
            await gw.cancel(alice, job["id"])
            await asyncio.sleep(3)
        assert ref == {"name": TORCH_RUNTIME, "kind": "ClusterTrainingRuntime", "apiGroup": "trainer.kubeflow.org"}
        done = await gw.wait(alice, job["id"], timeout=120)
    assert done["phase"] == "Succeeded", done
    for rank in (0, 1):
        assert first_line_with(await gw.text(f"/jobs/{job['id']}/logs?rank={rank}", alice), f"rank {rank} ran")
    await gw.cancel(alice, job["id"])


# ---- failover ----------------------------------------------------------------------------------


class tainted_nodes:
    """While inside: every node of the cluster carries a NoSchedule taint (the site drains them)."""

    TAINT = {"key": "maintenance.example.org/drain", "value": "true", "effect": "NoSchedule"}

    def __init__(self, admin):
        self.admin = admin
        self.nodes: list[str] = []

    async def _set(self, taints_of) -> None:
        for node in self.nodes:
            current = await kube.request(self.admin, "GET", f"/api/v1/nodes/{node}")
            taints = taints_of(current["spec"].get("taints") or [])
            await kube.request(self.admin, "PATCH", f"/api/v1/nodes/{node}", body={"spec": {"taints": taints}},
                               content_type="application/merge-patch+json")

    async def __aenter__(self):
        self.nodes = [n["metadata"]["name"] for n in
                      (await kube.request(self.admin, "GET", "/api/v1/nodes"))["items"]]
        await self._set(lambda taints: [*taints, self.TAINT])
        return self

    async def __aexit__(self, *exc):
        await self._set(lambda taints: [t for t in taints if t["key"] != self.TAINT["key"]])


async def test_an_unschedulable_trainjob_gang_moves_to_the_next_cluster_as_a_whole(
        gw, token_for, admin_api, sandbox):
    carol = token_for("carol")
    async with admin_api(CLUSTER) as admin, tainted_nodes(admin):
        job = await gw.submit(carol, {"kind": "pytorch", "name": "drained", "script": RANK_SCRIPT.format(0),
                                      "nodes": 2, "cluster": [CLUSTER, "burst"]})
        assert (job["cluster"], job["backend"]) == (CLUSTER, "trainjob")
        name = (await trainjob_of(admin_api, sandbox.namespace, job["id"]))["metadata"]["name"]
        done = await gw.wait(carol, job["id"], timeout=180)
        assert done["phase"] == "Succeeded", done
        assert (done["cluster"], done["backend"]) == ("burst", "indexed-job")
        note = done["history"][0]
        assert note.startswith(f"{CLUSTER}: ") and note.endswith("failed over to burst"), note
        assert "taints the job does not tolerate" in note, note
        assert await all_gone(admin_api, sandbox.namespace, name) == []
        assert await leftovers(admin_api, CLUSTER, sandbox.namespace, job["id"]) == []
    for rank in (0, 1):
        assert first_line_with(await gw.text(f"/jobs/{job['id']}/logs?rank={rank}", carol), f"rank {rank} ran")
    await gw.cancel(carol, job["id"])
