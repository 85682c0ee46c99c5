"""KubeSpawner settings the federation cannot honour, refused when the hub starts.

KubeSpawner talks to one cluster, set up with ``k8s_api_*``; the federated spawner talks to
each member cluster through the credential its ``Federation.clusters`` entry names, so those
settings would be silently ignored. A hub that sets them stops with a message saying where
the setting belongs instead.
"""

from __future__ import annotations

from ..federation.config import FederationConfigError

# setting -> where its effect is configured in a federation
CLUSTER_CONNECTION = {
    "k8s_api_host": "the server of each member's kubeconfig context (Federation.clusters[].kubeconfig/context)",
    "k8s_api_ssl_ca_cert": "the certificate-authority of each member's kubeconfig cluster entry",
    "k8s_api_verify_ssl": "each member's kubeconfig cluster entry (insecure-skip-tls-verify)",
}


def check_unsupported(settings: dict[str, object]) -> None:
    """Refuse (FederationConfigError) any of ``settings`` (spawner settings as configured)
    that only KubeSpawner's single-cluster connection uses."""
    for name, where in CLUSTER_CONNECTION.items():
        if settings.get(name) is not None:
            raise FederationConfigError(
                f"KubeSpawner.{name} is set, but the federated spawner connects to each member cluster with "
                f"the credential of its Federation.clusters entry: set it in {where}, and remove "
                f"KubeSpawner.{name}.")
