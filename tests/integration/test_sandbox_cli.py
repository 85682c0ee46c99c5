"""``fedspawner sandbox`` misuse gives clear messages and leaves no stray process
(issue: sandbox §3.6). Uses its own one-cluster sandbox beside the session's."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from fedspawner.sandbox import processes

from .sandbox_fixtures import fedspawner_cli

pytestmark = pytest.mark.sandbox

MINI = """
namespace: fedspawner
base_port: {port}
clusters:
  - name: mini
    node_groups:
      - name: cpu
        cpu: "4"
        memory: 8Gi
"""
PORT = 17700


@pytest.fixture
def mini(tmp_path: Path):
    topology = tmp_path / "mini.yaml"
    topology.write_text(MINI.format(port=PORT))
    state = tmp_path / "state"
    yield topology, state
    fedspawner_cli("sandbox", "--state-dir", str(state), "down")
    assert processes.marked_processes(state) == []


def sandbox_cmd(state: Path, *args: str):
    return fedspawner_cli("sandbox", "--state-dir", str(state), *args)


def test_up_twice_down_twice(mini):
    topology, state = mini
    first = sandbox_cmd(state, "up", "--topology", str(topology))
    assert first.returncode == 0, first.stderr
    assert f"export KUBECONFIG={state}/kubeconfig" in first.stdout
    running = processes.marked_processes(state)
    assert len(running) == 5  # etcd, apiserver, controller-manager, scheduler, node agent

    second = sandbox_cmd(state, "up", "--topology", str(topology))
    assert second.returncode == 1
    assert "already running" in second.stderr and "fedspawner sandbox down" in second.stderr
    assert "Traceback" not in second.stderr
    assert sorted(processes.marked_processes(state)) == sorted(running)  # untouched

    status = sandbox_cmd(state, "status")
    assert status.returncode == 0 and "mini" in status.stdout and "healthy" in status.stdout

    down = sandbox_cmd(state, "down")
    assert down.returncode == 0 and "stopped" in down.stdout
    assert processes.marked_processes(state) == []
    assert not state.exists()

    again = sandbox_cmd(state, "down")
    assert again.returncode == 0 and "nothing to stop" in again.stdout


def test_down_status_env_with_nothing_running(tmp_path):
    state = tmp_path / "never-started"
    assert "nothing to stop" in sandbox_cmd(state, "down").stdout
    for verb in ("status", "env"):
        result = sandbox_cmd(state, verb)
        assert result.returncode == 1
        assert "no sandbox is running" in result.stderr and "fedspawner sandbox up" in result.stderr


@pytest.mark.parametrize("body,message", [
    ("clusters: [\n  - name: x\n", "not valid YAML"),
    ("clusters: []\n", "list at least one cluster"),
    ("clusters:\n  - name: Bad_Name\n    node_groups: [{name: cpu}]\n", "'Bad_Name' is not a valid name"),
    ("clusters:\n  - name: a\n    node_groups: [{name: cpu, count: two}]\n",
     "clusters[0].node_groups[0].count: must be a positive integer, got 'two'"),
    ("clusters:\n  - name: a\n    node_groups: [{name: gpu, resources: {nvidia.com/gpu: lots}}]\n",
     "'lots' is not a Kubernetes quantity"),
    ("clusters:\n  - name: a\n    nodes: 3\n", "unknown field 'nodes'"),
    ("base_port: 80\nclusters:\n  - name: a\n    node_groups: [{name: cpu}]\n", "base_port: must be a port number"),
])
def test_malformed_topology_is_rejected_before_anything_starts(tmp_path, body, message):
    topology = tmp_path / "bad.yaml"
    topology.write_text(body)
    state = tmp_path / "state"
    result = sandbox_cmd(state, "up", "--topology", str(topology))
    assert result.returncode == 1
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert not state.exists() and processes.marked_processes(state) == []


def test_missing_topology_file(tmp_path):
    result = sandbox_cmd(tmp_path / "s", "up", "--topology", str(tmp_path / "nope.yaml"))
    assert result.returncode == 1 and "does not exist" in result.stderr


def test_port_already_taken(mini):
    topology, state = mini
    with socket.socket() as squatter:
        # SO_REUSEADDR as the sandbox's own check uses it: an earlier test's connections to this
        # port may still be in TIME_WAIT, which only a listener should count as taken.
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", PORT))
        squatter.listen()
        result = sandbox_cmd(state, "up", "--topology", str(topology))
    assert result.returncode == 1
    assert f"port {PORT} on 127.0.0.1 (cluster mini, apiserver) is already in use" in result.stderr
    assert "--base-port" in result.stderr
    assert processes.marked_processes(state) == []
