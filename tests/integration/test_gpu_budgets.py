"""Federation-wide GPU budgets against the sandbox: a notebook server and a job on real clusters
count together, from the clusters' own pods; starts and submissions past the budget are refused
saying what is used where, and what is left is what the API reports."""

from __future__ import annotations

import pytest

from fedspawner.federation.registry import ClusterRegistry
from fedspawner.gateway.cancel import delete_job
from fedspawner.gateway.config import Gateway
from fedspawner.gateway.discovery import BackendDiscovery
from fedspawner.gateway.errors import Forbidden
from fedspawner.gateway.store import JobStore
from fedspawner.gateway.submit import Submitter
from fedspawner.spawner.spawner import FederatedKubeSpawner, SpawnRefused
from fedspawner.spawner.standalone import make_spawner

from .direct_spawner import direct_spawner_config
from .kube_helpers import unique
from .test_inventory import until

pytestmark = pytest.mark.sandbox
A100 = "nvidia-a100-40gb"


@pytest.fixture
async def budget_config(sandbox):
    async with direct_spawner_config(sandbox) as c:
        yield c


def held(registry: ClusterRegistry, user: str) -> int:
    return sum(h.gpus for h in registry.held_by(user))


async def test_servers_and_jobs_on_every_cluster_share_one_budget(budget_config):
    user = unique("budget")
    budget_config.Federation.gpu_budgets = {"users": {user: 3}, "default": 0}
    server = make_spawner(FederatedKubeSpawner, budget_config, user,
                          {"cluster": "onprem", "gpu_type": A100, "gpu_count": 2})
    await server.start()
    registry = ClusterRegistry.shared(budget_config)
    store = JobStore(registry, BackendDiscovery(registry.api))
    submitter = Submitter(registry, store.discovery, Gateway())
    jobs = []
    try:
        await until(lambda: held(registry, user) == 2, 10)
        job_body = {"kind": "job", "script": "import time; time.sleep(60)", "gpus": "nvidia-l4:1",
                    "cluster": "regional", "image": "python:3.11-slim"}
        jobs.append(await submitter.submit(user, frozenset(), {**job_body, "name": "small"}))
        await until(lambda: held(registry, user) == 3, 20)
        assert {(h.cluster, h.what, h.gpus) for h in registry.held_by(user)} == {
            ("onprem", "server", 2), ("regional", "job small", 1)}

        second = make_spawner(FederatedKubeSpawner, budget_config, user, {"gpu_type": "any", "gpu_count": 1})
        with pytest.raises(SpawnRefused) as refused:
            await second.start()
        assert refused.value.message == (
            "This server asks for 1 GPUs, but you use 3 of your 3 GPUs: 2 on onprem (server), "
            "1 on regional (job small). Stop a server or cancel a job first.")
        with pytest.raises(Forbidden) as forbidden:
            await submitter.submit(user, frozenset(), {**job_body, "name": "more"})
        assert "you use 3 of your 3 GPUs: 2 on onprem (server), 1 on regional (job small)" in forbidden.value.message
        view = registry.budget(user, frozenset())
        assert (view["limit"], view["used"], view["remaining"]) == (3, 3, 0)

        # A CPU job is not held back by the budget; stopping the server gives its GPUs back.
        jobs.append(await submitter.submit(user, frozenset(), {**job_body, "name": "cpu", "gpus": None}))
        await server.stop(now=True)
        await until(lambda: held(registry, user) == 1, 20)
        jobs.append(await submitter.submit(user, frozenset(), {**job_body, "name": "again", "gpus": "nvidia-l4:2"}))
        assert registry.budget(user, frozenset())["remaining"] in (0, 2)  # its pods may not exist yet
    finally:
        await server.stop(now=True)
        for job in jobs:
            await delete_job(store, await store.get(job.job_id), timeout=60)


async def test_the_gateway_reports_the_callers_budget(gw, token_for):
    status, answer = await gw.call("GET", "/budget", token_for("alice"))
    assert status == 200, answer
    budget = answer["budget"]
    assert budget["limit"] is None and budget["remaining"] is None  # the demo hub sets no budgets
    assert budget["summary"].startswith("no GPU budget; you use ")
    assert budget["used"] == sum(h["gpus"] for h in budget["holdings"])
    status, answer = await gw.call("GET", "/budget", None)
    assert status == 401 and "token" in answer["message"].lower()
