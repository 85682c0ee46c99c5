"""A malformed member-cluster entry stops the hub at start-up with one clear message."""

from __future__ import annotations

import subprocess
import sys


def test_malformed_cluster_stops_the_hub_with_one_message(tmp_path):
    config = tmp_path / "jupyterhub_config.py"
    config.write_text(
        "from fedspawner.hub import configure_hub\n"
        "c.Federation.clusters = [{'name': 'onprem', 'in_cluster': True},\n"
        "                         {'name': 'regional', 'in_cluster': True, 'access': 'vpn'}]\n"
        "configure_hub(c)\n")
    proc = subprocess.run([sys.executable, "-m", "jupyterhub", "-f", str(config)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    output = (proc.stdout + proc.stderr).strip()
    assert output.splitlines()[-1] == ("fedspawner: Federation.clusters[1] (regional): field 'access' must be one "
                                       "of direct, ingress, tunnel, got 'vpn'")
    assert "Traceback" not in output
