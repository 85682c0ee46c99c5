"""A cluster that goes silent mid-start (its apiserver stopped right after the server's pod
was created there, tunnel access): the start moves on within seconds, narrates why, and
the pod left there is deleted once the cluster answers again — by this process, or after
a restart by the next one (the pod's attempt label is the record)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import urllib.error
import urllib.request

import pytest
from kubernetes_asyncio import client

from fedspawner.federation.registry import ClusterRegistry
from fedspawner.spawner import attempts
from fedspawner.spawner.spawner import FederatedKubeSpawner
from fedspawner.spawner.standalone import make_spawner

from .direct_spawner import direct_spawner_config
from .kube_helpers import unique, wait_for, wait_until_gone
from .test_spawner import apiserver_pid

pytestmark = pytest.mark.sandbox
NS = "fedspawner"
FIRST = {"test": "silent-first"}
# The server listens only after a few seconds, so the start is still unfinished when the
# cluster goes silent (however fast the pod runs).
SLOW_SERVER = ["sh", "-c", "sleep 4; exec python -m http.server 8888"]


async def _pod_on(admin_api, cluster: str, name: str):
    async with admin_api(cluster) as api:
        pods = await client.CoreV1Api(api).list_namespaced_pod(NS, field_selector=f"metadata.name={name}")
        return pods.items[0] if pods.items else None


async def _answers(url: str) -> bool:
    """Does a server answer at ``url`` (any HTTP status)? Direct access hands the hub the pod's
    address as soon as it runs; the hub waits for the server there, as this does."""
    def get() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=5):
                return True
        except urllib.error.HTTPError:
            return True
        except OSError:
            return False
    return await asyncio.to_thread(get)


@pytest.mark.parametrize("restart", [False, True], ids=["same-process", "after-restart"])
async def test_a_cluster_silent_after_scheduling_is_failed_over_and_swept(sandbox, admin_api, restart):
    async with direct_spawner_config(sandbox, cmd=SLOW_SERVER) as c:
        for entry in c.Federation.clusters:
            if entry["name"] == "burst":  # tunnel access; the profile's first choice
                entry["labels"] = dict(FIRST)
        c.KubeSpawner.profile_list = [{"display_name": "t", "slug": "t", "default": True,
                                       "clusters": {"allowed": ["burst", "onprem"], "locality": dict(FIRST)},
                                       "kubespawner_override": {"cpu_guarantee": 0.1}}]
        spawner = make_spawner(FederatedKubeSpawner, c, unique("silent"), {})
        start = asyncio.ensure_future(spawner.start())
        pod = await wait_for(lambda: _pod_on(admin_api, "burst", spawner.pod_name), "the pod on burst")
        assert pod.metadata.labels[attempts.ATTEMPT_LABEL] != attempts.KEPT
        pid = apiserver_pid(sandbox, "burst")
        os.kill(pid, signal.SIGSTOP)
        resumed = False
        try:
            silent_at = time.monotonic()
            url = await asyncio.wait_for(start, 60)
            moved_in = time.monotonic() - silent_at
            print(f"silent burst: landed on {spawner.cluster_name} {moved_in:.1f} s after the pause")
            assert spawner.cluster_name == "onprem", spawner._narration
            assert moved_in < 20, f"took {moved_in:.1f}s to move on: {spawner._narration}"
            assert any(m.startswith("burst:") and "trying onprem" in m for m in spawner._narration), \
                spawner._narration
            assert any("deleted as soon as the cluster answers again" in m for m in spawner._narration)
            await wait_for(lambda: _answers(url), "the server on onprem to answer", timeout=20, interval=0.5)
            kept = await _pod_on(admin_api, "onprem", spawner.pod_name)
            assert kept.metadata.labels[attempts.ATTEMPT_LABEL] == attempts.KEPT
            if restart:  # a new hub process: nothing in memory, only the label on the cluster
                attempts.Sweeper.instance.stop()
                attempts.Sweeper.instance = None
                await FederatedKubeSpawner._stop_all_reflectors()
                await asyncio.wait_for(ClusterRegistry.reset_shared(), 30)
            os.kill(pid, signal.SIGCONT)
            resumed = True
            if restart:
                await spawner.registry()  # what any spawner does first in the new process
            async with admin_api("burst") as api:
                await wait_until_gone(client.CoreV1Api(api), NS, spawner.pod_name, timeout=30)
        finally:
            if not resumed:
                os.kill(pid, signal.SIGCONT)
            await spawner.stop(now=True)
