"""FederatedKubeSpawner as a drop-in for KubeSpawner, against the sandbox's real clusters.

Each test drives the spawner through the calls JupyterHub makes, in its order (``clear_state``,
``run_auth_state_hook``, ``run_pre_spawn_hook``, ``start``; ``stop``, ``clear_state``, ``get_state``;
``delete_forever``; a new spawner with ``load_state`` after a hub restart), with a
``jupyterhub_config.py``-style configuration a KubeSpawner admin would keep.
"""

from __future__ import annotations

import os

import pytest
from jupyterhub.utils import maybe_future
from kubernetes_asyncio import client

from fedspawner.spawner.spawner import FederatedKubeSpawner, SpawnRefused
from fedspawner.spawner.standalone import make_spawner

from .direct_spawner import direct_spawner_config
from .kube_helpers import unique, wait_for

pytestmark = pytest.mark.sandbox
NS = "fedspawner"


async def hub_start(spawner: FederatedKubeSpawner, options: dict, auth_state: dict | None = None) -> str:
    """Start a server as JupyterHub's ``User.spawn`` does."""
    spawner.user_options = options
    spawner.clear_state()
    await spawner.run_auth_state_hook(auth_state or {})
    await maybe_future(spawner.run_pre_spawn_hook())
    return await spawner.start()


async def hub_stop(spawner: FederatedKubeSpawner) -> dict:
    """Stop a server as JupyterHub's ``User.stop`` does; the state it then saves."""
    await spawner.stop(now=True)
    spawner.clear_state()
    return spawner.get_state()


async def read_pod(admin_api, cluster: str, name: str):
    async with admin_api(cluster) as api:
        return await client.CoreV1Api(api).read_namespaced_pod(name, NS)


async def claim_exists(admin_api, cluster: str, name: str) -> bool:
    async with admin_api(cluster) as api:
        try:
            await client.CoreV1Api(api).read_namespaced_persistent_volume_claim(name, NS)
            return True
        except client.ApiException as err:
            if err.status == 404:
                return False
            raise


def auth_state_hook(spawner, auth_state):
    spawner.environment = {**spawner.environment, "TEAM": auth_state.get("team", "")}


def pre_spawn_hook(spawner):
    """What z2jh set-ups do per user: environment, labels, an extra volume (for one team only)."""
    team = spawner.environment.get("TEAM", "")
    if team != "physics":
        return
    spawner.environment = {**spawner.environment, "HOOKED": f"{team}-hooked"}
    spawner.extra_labels = {**spawner.extra_labels, "hooked": "yes"}
    spawner.volumes = [*spawner.volumes, {"name": "scratch", "emptyDir": {}}]
    spawner.volume_mounts = [*spawner.volume_mounts, {"name": "scratch", "mountPath": "/scratch"}]


async def test_hook_settings_reach_the_pod_and_do_not_leak_into_the_next_start(sandbox, admin_api):
    async with direct_spawner_config(sandbox, pre_spawn_hook=pre_spawn_hook,
                                     auth_state_hook=auth_state_hook) as config:
        spawner = make_spawner(FederatedKubeSpawner, config, unique("hook"))
        await hub_start(spawner, {"cluster": "onprem"}, {"team": "physics"})
        try:
            pod = await read_pod(admin_api, "onprem", spawner.pod_name)
            env = {e.name: e.value for e in pod.spec.containers[0].env}
            assert env["TEAM"] == "physics" and env["HOOKED"] == "physics-hooked"
            assert pod.metadata.labels["hooked"] == "yes"
            assert "scratch" in [v.name for v in pod.spec.volumes]
            assert "/scratch" in [m.mount_path for m in pod.spec.containers[0].volume_mounts]
        finally:
            await hub_stop(spawner)
        await hub_start(spawner, {"cluster": "onprem"}, {"team": "chemistry"})
        try:
            pod = await read_pod(admin_api, "onprem", spawner.pod_name)
            env = {e.name: e.value for e in pod.spec.containers[0].env}
            assert env["TEAM"] == "chemistry" and "HOOKED" not in env
            assert "hooked" not in pod.metadata.labels
            assert "scratch" not in [v.name for v in pod.spec.volumes or []]
        finally:
            await hub_stop(spawner)


STORAGE = {
    "storage_pvc_ensure": True, "storage_capacity": "1Gi", "delete_pvc": True,
    "volumes": [{"name": "home", "persistentVolumeClaim": {"claimName": "{pvc_name}"}}],
    "volume_mounts": [{"name": "home", "mountPath": "/home/jovyan"}],
}


async def test_delete_forever_after_a_stop_deletes_the_claim_where_it_lives(sandbox, admin_api):
    async with direct_spawner_config(sandbox, **STORAGE) as config:
        name = unique("pvc")
        spawner = make_spawner(FederatedKubeSpawner, config, name)
        await hub_start(spawner, {"cluster": "burst"})
        claim = spawner.pvc_name
        state = await hub_stop(spawner)
        assert state["pvc_location"] == {"cluster": "burst", "namespace": NS}
        assert await claim_exists(admin_api, "burst", claim)
        # The next start goes back to the cluster holding the user's data, even when Auto.
        await hub_start(spawner, {})
        assert spawner.cluster_name == "burst"
        state = await hub_stop(spawner)
        await spawner.delete_forever()  # the same process, after JupyterHub cleared the state
        await wait_for(lambda: _gone(admin_api, "burst", claim), "the claim to be deleted", timeout=30)

        # After a hub restart: a new spawner object, only the saved state.
        second = make_spawner(FederatedKubeSpawner, config, unique("pvc"))
        await hub_start(second, {"cluster": "onprem"})
        state = await hub_stop(second)
        restarted = make_spawner(FederatedKubeSpawner, config, second.user.name)
        restarted.load_state(state)
        await restarted.delete_forever()
        await wait_for(lambda: _gone(admin_api, "onprem", second.pvc_name), "the claim to be deleted", timeout=30)


async def test_a_state_without_the_location_finds_the_claim_on_its_cluster(sandbox, admin_api):
    async with direct_spawner_config(sandbox, **STORAGE) as config:
        spawner = make_spawner(FederatedKubeSpawner, config, unique("old"))
        await hub_start(spawner, {"cluster": "burst"})
        state = await hub_stop(spawner)
        state.pop("pvc_location")  # as written before the location was kept
        restarted = make_spawner(FederatedKubeSpawner, config, spawner.user.name)
        restarted.load_state(state)
        with pytest.raises(SpawnRefused, match=r"Your storage \(volume claim .*\) is on burst"):
            await hub_start(restarted, {"cluster": "onprem"})
        await restarted.delete_forever()
        await wait_for(lambda: _gone(admin_api, "burst", spawner.pvc_name), "the claim to be deleted", timeout=30)


async def _gone(admin_api, cluster: str, claim: str) -> bool:
    return not await claim_exists(admin_api, cluster, claim)


async def test_load_state_keeps_the_namespace_the_server_runs_in(sandbox, admin_api):
    async with direct_spawner_config(sandbox) as config:
        spawner = make_spawner(FederatedKubeSpawner, config, unique("ns"))
        await hub_start(spawner, {"cluster": "onprem"})
        state = spawner.get_state()
        try:
            # The hub restarts with onprem's namespace changed: the running server stays found.
            for entry in config.Federation.clusters:
                if entry["name"] == "onprem":
                    entry["namespace"] = "research"
            from fedspawner.federation.registry import ClusterRegistry
            await FederatedKubeSpawner._stop_all_reflectors()
            await ClusterRegistry.reset_shared()
            restarted = make_spawner(FederatedKubeSpawner, config, spawner.user.name)
            restarted.load_state(state)
            assert (restarted.cluster_name, restarted.namespace) == ("onprem", NS)
            assert await restarted.poll() is None  # still running, where it is
        finally:
            await hub_stop(spawner)


async def test_a_profile_namespace_is_honoured_or_refused(sandbox, admin_api):
    profiles = [{"display_name": "Own namespace", "slug": "own", "kubespawner_override": {"namespace": NS}},
                {"display_name": "Elsewhere", "slug": "elsewhere", "kubespawner_override": {"namespace": "other-team"}}]
    async with direct_spawner_config(sandbox, profile_list=profiles, namespace="default") as config:
        for entry in config.Federation.clusters:
            if entry["name"] == "regional":
                entry["namespace"] = "research"  # a member that grants the hub another namespace
        spawner = make_spawner(FederatedKubeSpawner, config, unique("pns"))
        await hub_start(spawner, {"profile": "own"})
        try:
            assert spawner.cluster_name in ("onprem", "burst") and spawner.namespace == NS
            await read_pod(admin_api, spawner.cluster_name, spawner.pod_name)
        finally:
            await hub_stop(spawner)
        with pytest.raises(SpawnRefused, match="regional"):  # it grants another namespace
            await hub_start(spawner, {"profile": "own", "cluster": "regional"})
        other = make_spawner(FederatedKubeSpawner, config, unique("pns"))
        with pytest.raises(SpawnRefused, match="asks to run in the namespace 'other-team', which no member cluster"):
            await hub_start(other, {"profile": "elsewhere"})


async def test_options_from_form_as_configured(sandbox):
    def from_form(formdata, spawner):
        return {"profile": formdata["size"][0], "cluster": "onprem", "who": spawner.user.name}

    async with direct_spawner_config(sandbox, profile_list=[{"display_name": "Small", "slug": "small"}],
                                     options_from_form="simple") as config:
        spawner = make_spawner(FederatedKubeSpawner, config, unique("form"))
        assert await spawner.run_options_from_form({"profile": ["small"], "flag": ["on"], "multi": ["a", "b"]}) \
            == {"profile": "small", "flag": True, "multi": ["a", "b"]}
        with pytest.raises(ValueError, match="There is no cluster 'mars'"):  # the federation's checks still apply
            await spawner.run_options_from_form({"profile": ["small"], "cluster": ["mars"]})
        config.KubeSpawner.options_from_form = from_form
        spawner = make_spawner(FederatedKubeSpawner, config, unique("form"))
        assert await spawner.run_options_from_form({"size": ["small"]}) == \
            {"profile": "small", "cluster": "onprem", "who": spawner.user.name}
        del config.KubeSpawner["options_from_form"]
        spawner = make_spawner(FederatedKubeSpawner, config, unique("form"))
        assert await spawner.run_options_from_form({"profile": ["small"], "cluster": ["auto"]}) == \
            {"profile": "small", "cluster": "auto"}  # no GPU form, no GPU keys


@pytest.fixture
async def hooked_hub(hub_app, sandbox, monkeypatch):
    """An in-process JupyterHub (MockHub) whose KubeSpawner settings come with z2jh-style hooks,
    keeping users' auth state."""
    from jupyterhub.crypto import CryptKeeper

    from fedspawner.demo.tools import ensure_chp
    from fedspawner.federation.registry import ClusterRegistry
    from fedspawner.sandbox.federation import member_clusters

    monkeypatch.setattr(CryptKeeper.instance(), "keys", [os.urandom(32)])
    await ClusterRegistry.reset_shared()
    app = await hub_app({
        "JupyterHub": {"spawner_class": FederatedKubeSpawner},
        "Authenticator": {"enable_auth_state": True},
        "ConfigurableHTTPProxy": {"command": [str(ensure_chp(log=lambda *_: None))]},
        "Federation": {"clusters": member_clusters(sandbox.state_dir)},
        "KubeSpawner": {"cmd": ["python", "-m", "http.server", "8888"], "image": "python:3.11-slim",
                        "start_timeout": 60, "http_timeout": 60, "auth_state_hook": auth_state_hook,
                        "pre_spawn_hook": pre_spawn_hook, "environment": {"SITE": "campus"}},
    })
    yield app
    await FederatedKubeSpawner._stop_all_reflectors()
    await ClusterRegistry.reset_shared()


async def test_jupyterhub_runs_the_hooks_and_the_pod_keeps_what_they_set(hooked_hub, admin_api):
    from jupyterhub.tests.utils import add_user

    user = add_user(hooked_hub.db, hooked_hub, name=unique("z2jh"))
    await user.save_auth_state({"team": "physics"})
    await user.spawn("", options={"cluster": "onprem"})
    spawner = user.spawners[""]
    try:
        pod = await read_pod(admin_api, "onprem", spawner.pod_name)
        env = {e.name: e.value for e in pod.spec.containers[0].env}
        assert (env["SITE"], env["TEAM"], env["HOOKED"]) == ("campus", "physics", "physics-hooked")
        assert pod.metadata.labels["hooked"] == "yes"
    finally:
        await user.stop("")
    assert "HOOKED" not in spawner.environment  # stopped: back to the configured settings
