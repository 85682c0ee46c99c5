"""The Kubernetes operators a sandbox cluster may run, pinned to exact versions.

Pure data: which Go module and package each operator is built from, which wrapper
module it is built in (operators whose dependencies resolve together share one), where
its CRDs and webhook configurations are inside the module, and which of the cluster's
loopback ports it listens on (offsets into the cluster's port block, after the control
plane's).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Operator:
    """One operator: how to build it, what to install for it, where it listens."""

    name: str
    module: str
    version: str
    package: str  # the main package, relative to the module root ("" for the root)
    build_group: str  # operators of one group are built in one wrapper module
    namespace: str  # where its leader-election and other namespaced objects would live
    crds: tuple[str, ...]  # CRD files, relative to the module root
    webhooks: str | None  # the webhook configurations' file (service references), if any
    webhook_groups: tuple[str, ...]  # API groups whose webhooks it serves (others are dropped)
    ports: tuple[str, ...]  # named ports, in the order of their offsets
    port_offset: int
    requires: tuple[str, ...] = ()  # operators that must run on the same cluster
    storage_version_only: bool = False  # serve only the CRDs' storage version (no conversion webhook)

    @property
    def binary(self) -> str:
        return self.name

    @property
    def import_path(self) -> str:
        return f"{self.module}/{self.package}" if self.package else self.module


KUEUE_FRAMEWORK_OF = {
    # operator -> (Kueue integration, the API group its webhooks cover)
    "jobset": ("jobset.x-k8s.io/jobset", "jobset.x-k8s.io"),
    "trainer": ("trainer.kubeflow.org/trainjob", "trainer.kubeflow.org"),
    "spark-operator": ("sparkoperator.k8s.io/sparkapplication", "sparkoperator.k8s.io"),
}

OPERATORS: dict[str, Operator] = {op.name: op for op in (
    Operator(
        name="jobset", module="sigs.k8s.io/jobset", version="v0.12.0", package="", build_group="kubeflow",
        namespace="jobset-system",
        crds=("config/components/crd/bases/jobset.x-k8s.io_jobsets.yaml",),
        webhooks="config/components/webhook/manifests.yaml", webhook_groups=("jobset.x-k8s.io",),
        ports=("webhook", "health"), port_offset=10),
    Operator(
        name="trainer", module="github.com/kubeflow/trainer/v2", version="v2.3.0",
        package="cmd/trainer-controller-manager", build_group="kubeflow", namespace="kubeflow-system",
        crds=tuple(f"manifests/base/crds/trainer.kubeflow.org_{n}.yaml"
                   for n in ("trainjobs", "trainingruntimes", "clustertrainingruntimes")),
        webhooks="manifests/base/webhook/manifests.yaml", webhook_groups=("trainer.kubeflow.org",),
        ports=("webhook", "health"), port_offset=12, requires=("jobset",)),
    Operator(
        name="kueue", module="sigs.k8s.io/kueue", version="v0.19.2", package="cmd/kueue", build_group="kubeflow",
        namespace="kueue-system",
        crds=tuple(f"config/components/crd/bases/kueue.x-k8s.io_{n}.yaml" for n in (
            "admissionchecks", "clusterqueues", "cohorts", "localqueues", "multikueueclusters",
            "multikueueconfigs", "provisioningrequestconfigs", "resourceflavors", "topologies",
            "workloadpriorityclasses", "workloads")),
        webhooks="config/components/webhook/manifests.yaml", webhook_groups=("kueue.x-k8s.io", "batch"),
        ports=("webhook", "health"), port_offset=14, storage_version_only=True),
    Operator(
        name="spark-operator", module="github.com/kubeflow/spark-operator/v2", version="v2.5.2",
        package="cmd/operator", build_group="spark", namespace="spark-operator",
        crds=tuple(f"config/crd/bases/sparkoperator.k8s.io_{n}.yaml"
                   for n in ("sparkapplications", "scheduledsparkapplications", "sparkconnects")),
        webhooks=None, webhook_groups=(), ports=("health",), port_offset=16),
)}

#: Trainer's default runtime, installed once Trainer's webhooks answer.
TRAINER_DEFAULT_RUNTIME = "manifests/base/runtimes/torch_distributed.yaml"

#: Ports a cluster's operators may use, after the control plane's: the largest offset + its ports.
OPERATOR_PORTS_END = max(op.port_offset + len(op.ports) for op in OPERATORS.values())


def operator_ports(names: tuple[str, ...], base: int) -> dict[str, int]:
    """Loopback ports of the named operators of a cluster whose port block starts at ``base``."""
    return {f"{name}-{port}": base + OPERATORS[name].port_offset + i
            for name in names for i, port in enumerate(OPERATORS[name].ports)}


def start_order(names: tuple[str, ...]) -> list[Operator]:
    """The operators in the order they are started: each after those it requires."""
    ordered: list[str] = []

    def visit(name: str) -> None:
        if name not in ordered:
            for dep in OPERATORS[name].requires:
                visit(dep)
            ordered.append(name)

    for name in names:
        visit(name)
    return [OPERATORS[n] for n in ordered]
