"""``enable_user_namespaces`` survives the federated spawner's own ``__init__``."""

from __future__ import annotations

from types import SimpleNamespace

from traitlets.config import Config

from fedspawner.federation.config import MemberCluster
from fedspawner.spawner.spawner import FederatedKubeSpawner

MEMBER = MemberCluster(name="onprem", display_name="Campus", namespace="fedspawner")


def spawner(**settings) -> FederatedKubeSpawner:
    config = Config({"KubeSpawner": settings})
    user = SimpleNamespace(name="Alice.Smith", id=7, url="/user/Alice.Smith/", groups=[])
    return FederatedKubeSpawner(user=user, config=config)


def test_user_namespaces_are_honoured_on_every_cluster():
    s = spawner(enable_user_namespaces=True, user_namespace_template="research-{username}")
    assert s.namespace == "research-alice-smith---2ece8250"  # KubeSpawner's own escaping of the user name
    assert s._namespace_on(MEMBER) == "research-alice-smith---2ece8250"
    assert s.dns_name.endswith(".research-alice-smith---2ece8250.svc.cluster.local")
    assert s._get_reflector_key("pods") == ("", "pods", "research-alice-smith---2ece8250")


def test_without_user_namespaces_the_members_namespace_is_used():
    s = spawner()
    assert s._namespace_on(MEMBER) == "fedspawner"
