"""Configuration of each operator process (pure: from its ports, directories and neighbours).

Every operator runs outside any cluster: leader election off, metrics off, health
probes and webhooks on its own loopback ports, certificate management off (the sandbox
issues each process a serving certificate, see ``sandbox.operators.install``).
"""

from __future__ import annotations

from pathlib import Path

from ..components import LOOPBACK
from ..operator_catalog import KUEUE_FRAMEWORK_OF, OPERATORS, Operator


#: Namespaces whose pods Kueue's pod integration may manage (its default, said out loud): every one
#: but the system's and Kueue's own. Within them only pods with a queue name are managed
#: (``manageJobsWithoutQueueName: false``), and only those reach its pod webhooks.
KUEUE_MANAGED_NAMESPACES = {"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "NotIn",
                                                  "values": ["kube-system", OPERATORS["kueue"].namespace]}]}


def _common(ports: dict[str, int], op: Operator) -> dict:
    doc = {
        "kind": "Configuration",
        "leaderElection": {"leaderElect": False},
        "metrics": {"bindAddress": "0"},
        "health": {"healthProbeBindAddress": f"{LOOPBACK}:{ports[f'{op.name}-health']}"},
    }
    if "webhook" in op.ports:
        doc["webhook"] = {"host": LOOPBACK, "port": ports[f"{op.name}-webhook"]}
    return doc


def kueue_frameworks(neighbours: tuple[str, ...]) -> list[str]:
    """Kueue's integrations on a cluster: batch Jobs, the jobs of the operators beside it, and plain
    pods (notebook servers of clusters that opt in: only pods carrying a queue name are managed)."""
    return ["batch/job", *(KUEUE_FRAMEWORK_OF[n][0] for n in neighbours if n in KUEUE_FRAMEWORK_OF), "pod"]


def webhook_groups(op: Operator, neighbours: tuple[str, ...]) -> set[str]:
    """The API groups whose webhooks the operator serves on this cluster."""
    groups = set(op.webhook_groups)
    if op.name == "kueue":
        groups |= {KUEUE_FRAMEWORK_OF[n][1] for n in neighbours if n in KUEUE_FRAMEWORK_OF}
        groups.add("")  # the core group: its pod webhooks (see manifests.KUEUE_POD_SELECTOR)
    return groups


def render_config(name: str, ports: dict[str, int], cert_dir: Path, neighbours: tuple[str, ...]) -> dict | None:
    """The operator's ``Configuration`` document (``None`` for the Spark operator: flags only).

    ``neighbours`` are the operators of the same cluster; ``cert_dir`` holds ``tls.crt`` and
    ``tls.key`` (Trainer reads them from ``$TMPDIR/k8s-webhook-server/serving-certs``).
    """
    op = OPERATORS[name]
    if name == "kueue":
        doc = _common(ports, op)
        doc["webhook"]["certDir"] = str(cert_dir)
        features = {"VisibilityOnDemand": False}  # it would read a visibility certificate from a fixed path
        if "spark-operator" in neighbours:
            features["SparkApplicationIntegration"] = True
        return {"apiVersion": "config.kueue.x-k8s.io/v1beta2", **doc, "namespace": op.namespace,
                "internalCertManagement": {"enable": False}, "manageJobsWithoutQueueName": False,
                "managedJobsNamespaceSelector": KUEUE_MANAGED_NAMESPACES,
                "featureGates": features, "integrations": {"frameworks": kueue_frameworks(neighbours)}}
    if name == "jobset":
        doc = _common(ports, op)
        doc["webhook"]["certDir"] = str(cert_dir)
        return {"apiVersion": "config.jobset.x-k8s.io/v1alpha1", **doc, "internalCertManagement": {"enable": False}}
    if name == "trainer":
        return {"apiVersion": "config.trainer.kubeflow.org/v1alpha1", **_common(ports, op),
                "certManagement": {"enable": False}}
    return None


def spark_operator_args(ports: dict[str, int]) -> list[str]:
    """The Spark operator's controller flags (it has no configuration file)."""
    return ["controller", "start", f"--health-probe-bind-address={LOOPBACK}:{ports['spark-operator-health']}",
            "--leader-election=false", "--metrics-bind-address=0", "--enable-ui-service=true"]
