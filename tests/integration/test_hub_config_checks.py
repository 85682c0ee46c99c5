"""A real hub stops at start-up, with one line naming the cluster (or profile) and field, for
each kind of member-cluster entry or spawner setting the federation cannot use."""

from __future__ import annotations

import subprocess
import sys

import pytest

KUBECONFIG = """apiVersion: v1
kind: Config
current-context: onprem
clusters:
- name: onprem
  cluster: {server: "https://127.0.0.1:6443"}
users:
- name: hub
  user: {token: x}
contexts:
- name: onprem
  context: {cluster: onprem, user: hub}
"""


def start_hub(tmp_path, body: str) -> subprocess.CompletedProcess:
    (tmp_path / "kubeconfig").write_text(KUBECONFIG)
    config = tmp_path / "jupyterhub_config.py"
    config.write_text("from fedspawner.hub import configure_hub\n"
                      f"KUBECONFIG = {str(tmp_path / 'kubeconfig')!r}\n" + body + "configure_hub(c)\n")
    return subprocess.run([sys.executable, "-m", "jupyterhub", "-f", str(config)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("body,message", [
    ("c.Federation.clusters = [{'name': 'onprem', 'kubeconfig': KUBECONFIG, 'context': 'onprem'},\n"
     "                         {'name': 'burst', 'kubeconfig': KUBECONFIG, 'context': 'gke'}]\n",
     "fedspawner: Federation.clusters[1] (burst): field 'context' names 'gke', which {kc} does not define "
     "(its contexts: onprem)"),
    ("c.Federation.clusters = [{'name': 'onprem', 'kubeconfig': KUBECONFIG, 'namespace': 'Research_Team'}]\n",
     "fedspawner: Federation.clusters[0] (onprem): field 'namespace' 'Research_Team' is not a Kubernetes "
     "namespace name (a DNS label: at most 63 lower-case letters, digits and '-', starting and ending with a "
     "letter or digit)"),
    ("c.Federation.clusters = [{'name': 'onprem', 'kubeconfig': KUBECONFIG, 'namespace': 'jhub'}]\n"
     "c.KubeSpawner.profile_list = [{'display_name': 'Team', 'slug': 'team',\n"
     "                               'kubespawner_override': {'namespace': 'team-a'}}]\n",
     "fedspawner: KubeSpawner.profile_list: profile 'team': field 'kubespawner_override.namespace' is 'team-a', "
     "which no member cluster grants the hub (granted: onprem: jhub). Set that cluster's namespace in "
     "Federation.clusters, or remove the override."),
    ("c.Federation.clusters = [{'name': 'onprem', 'kubeconfig': KUBECONFIG}]\n"
     "c.KubeSpawner.k8s_api_host = 'https://127.0.0.1:6443'\n",
     "fedspawner: KubeSpawner.k8s_api_host is set, but the federated spawner connects to each member cluster "
     "with the credential of its Federation.clusters entry: set it in the server of each member's kubeconfig "
     "context (Federation.clusters[].kubeconfig/context), and remove KubeSpawner.k8s_api_host."),
])
def test_a_malformed_entry_stops_the_hub_with_one_line(tmp_path, body, message):
    proc = start_hub(tmp_path, body)
    output = (proc.stdout + proc.stderr).strip()
    assert proc.returncode != 0, output
    assert output.splitlines()[-1] == message.format(kc=tmp_path / "kubeconfig")
    assert "Traceback" not in output
