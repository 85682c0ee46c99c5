"""Nodes the node controller marked unreachable or not ready are "not usable now", never GPU
nodes to tolerate: in the inventory's node view and in the scheduler's reasons."""

import pytest

from fedspawner.federation import failover
from fedspawner.federation.inventory import node_unusable, unusable_reason

READY = [{"type": "Ready", "status": "True"}]
UNREACHABLE = {"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"}


def node(conditions=READY, taints=(), unschedulable=False):
    return {"metadata": {"name": "n"}, "spec": {"taints": list(taints), "unschedulable": unschedulable},
            "status": {"conditions": conditions}}


def test_a_ready_untainted_node_is_usable():
    assert node_unusable(node()) == ""
    assert node_unusable(node(taints=[{"key": "nvidia.com/gpu", "effect": "NoSchedule"}])) == ""


@pytest.mark.parametrize("obj,why", [
    (node([{"type": "Ready", "status": "Unknown"}], [UNREACHABLE]), "unreachable"),
    (node([{"type": "Ready", "status": "Unknown"}]), "unreachable"),
    (node([{"type": "Ready", "status": "False"}]), "not ready"),
    (node(conditions=[]), "not ready"),
    (node(taints=[UNREACHABLE]), "unreachable"),  # Ready again, taint not lifted yet
    (node(taints=[{"key": "node.kubernetes.io/not-ready", "effect": "NoExecute"}]), "not ready"),
    (node(unschedulable=True), "cordoned"),
])
def test_unusable_nodes_say_why(obj, why):
    assert node_unusable(obj) == why


class _N:
    def __init__(self, unusable):
        self.unusable = unusable


def test_a_cluster_without_a_usable_node_says_why():
    assert unusable_reason([]) == ""
    assert unusable_reason([_N("unreachable"), _N("")]) == ""
    assert unusable_reason([_N("unreachable"), _N("unreachable"), _N("cordoned")]) == \
        "no node can run pods now (cordoned: 1, unreachable: 2)"


@pytest.mark.parametrize("message,reason", [
    ("0/3 nodes are available: 3 node(s) had untolerated taint {node.kubernetes.io/unreachable: }. "
     "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.",
     "its nodes are not usable now (unreachable)"),
    ("0/3 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }, "
     "2 node(s) had untolerated taint {node.kubernetes.io/unreachable: }.",
     "its nodes are not usable now (not ready, unreachable)"),
    ("0/2 nodes are available: 2 node(s) had untolerated taint(s) {nvidia.com/gpu: present}.",
     "its GPU nodes are tainted and the server does not tolerate them"),
    ("0/3 nodes are available: 1 node(s) had untolerated taint {nvidia.com/gpu: present}, "
     "2 node(s) had untolerated taint {node.kubernetes.io/unreachable: }.",
     "its nodes carry taints the server does not tolerate (nvidia.com/gpu)"),
    ("0/1 nodes are available: 1 node(s) had untolerated taint {dedicated: ml}.",
     "its nodes carry taints the server does not tolerate (dedicated)"),
])
def test_scheduler_taint_reasons_name_what_the_taints_mean(message, reason):
    assert failover.reason_for_scheduling(message) == reason
