"""The sandbox's operators: topology validation, wrapper modules, webhook rewriting and
configuration rendering (pure, no cluster, no build)."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import pytest

from fedspawner.sandbox.binaries import sources_dir
from fedspawner.sandbox.operators.build import parse_gomod, wrapper_gomod
from fedspawner.sandbox.operator_catalog import OPERATOR_PORTS_END, OPERATORS, start_order
from fedspawner.sandbox.operators.config import kueue_frameworks, render_config, spark_operator_args, webhook_groups
from fedspawner.sandbox.operators.manifests import storage_version_only, url_webhooks
from fedspawner.sandbox.topology import PORTS_PER_CLUSTER, TopologyError, load_topology, parse_topology

OPERATORS_TOPOLOGY = sources_dir() / "topologies" / "operators.yaml"


def cluster(**extra) -> dict:
    return {"clusters": [{"name": "a", "node_groups": [{"name": "g"}], **extra}]}


# ---- topology ---------------------------------------------------------------------

def test_operators_topology_runs_trainer_jobset_kueue_and_spark():
    topo = load_topology(OPERATORS_TOPOLOGY)
    assert {c.name: c.operators for c in topo.clusters} == {
        "training": ("jobset", "trainer", "kueue"), "analytics": ("spark-operator", "kueue")}


@pytest.mark.parametrize("operators,message", [
    (["jobset", "argo"],
     r"operators\[1\]: unknown operator 'argo'; choose from jobset, trainer, kueue, spark-operator"),
    (["jobset", "jobset"], "'jobset' is listed twice"),
    (["trainer"], "trainer needs jobset on the same cluster; add it to the list"),
    ("kueue", "operators: expected a list"),
])
def test_operator_lists_are_validated(operators, message):
    with pytest.raises(TopologyError, match=message):
        parse_topology(cluster(operators=operators))


def test_operator_ports_are_distinct_loopback_ports_inside_the_cluster_block():
    assert OPERATOR_PORTS_END <= PORTS_PER_CLUSTER
    topo = parse_topology({"base_port": 30000, "clusters": [
        {"name": n, "node_groups": [{"name": "g"}], "operators": list(OPERATORS)} for n in ("a", "b")]})
    ports = [topo.ports(i) for i in range(2)]
    assert ports[0]["kueue-webhook"] != ports[0]["jobset-webhook"]
    every = [p for block in ports for p in block.values()]
    assert len(every) == len(set(every))
    for i, block in enumerate(ports):
        lo = 30000 + PORTS_PER_CLUSTER * i
        assert all(lo <= p < lo + PORTS_PER_CLUSTER for p in block.values()), block
    bare = parse_topology(cluster())
    assert not any(k.startswith(tuple(OPERATORS)) for k in bare.ports(0))


def test_trainer_starts_after_jobset_whatever_the_order_listed():
    assert [op.name for op in start_order(("trainer", "kueue", "jobset"))] == ["jobset", "trainer", "kueue"]


# ---- wrapper modules ----------------------------------------------------------------

SPARK_GOMOD = """module github.com/kubeflow/spark-operator/v2

go 1.24.10

require (
\tk8s.io/api v0.33.0
)

replace (
\tk8s.io/api => k8s.io/api v0.32.5 // pinned
\tk8s.io/client-go v0.33.0 => k8s.io/client-go v0.32.5
\texample.com/local => ../local
)

replace k8s.io/metrics => k8s.io/metrics v0.32.5
"""


def test_parse_gomod_keeps_module_replacements_and_drops_local_ones():
    go, replaces = parse_gomod(SPARK_GOMOD)
    assert go == "1.24.10"
    assert replaces == ["k8s.io/api => k8s.io/api v0.32.5", "k8s.io/client-go v0.33.0 => k8s.io/client-go v0.32.5",
                        "k8s.io/metrics => k8s.io/metrics v0.32.5"]


def test_wrapper_requires_exact_versions_and_repeats_replacements():
    spark = OPERATORS["spark-operator"]
    text = wrapper_gomod([spark], {spark.module: SPARK_GOMOD})
    assert f"\t{spark.module} {spark.version}\n" in text
    assert re.search(r"^go 1\.24\.10$", text, re.M)
    assert "replace (\n\tk8s.io/api => k8s.io/api v0.32.5\n" in text and "../local" not in text
    group = [OPERATORS[n] for n in ("kueue", "jobset", "trainer")]
    text = wrapper_gomod(group, {op.module: f"module {op.module}\n\ngo 1.26.0\n" for op in group})
    assert "go 1.26.0" in text and "replace" not in text
    assert all(f"\t{op.module} {op.version}\n" in text for op in group)


# ---- manifests ----------------------------------------------------------------------

def hook(name: str, group: str, resource: str, path: str) -> dict:
    return {"name": name, "admissionReviewVersions": ["v1"], "sideEffects": "None", "failurePolicy": "Fail",
            "clientConfig": {"service": {"name": "webhook-service", "namespace": "system", "path": path}},
            "rules": [{"apiGroups": [group], "apiVersions": ["v1"], "operations": ["CREATE"],
                       "resources": [resource]}]}


UPSTREAM = {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
            "metadata": {"name": "mutating-webhook-configuration"},
            "webhooks": [hook("mjobset.kb.io", "jobset.x-k8s.io", "jobsets", "/mutate-jobset"),
                         hook("mpod.kb.io", "", "pods", "/mutate--v1-pod")]}


def test_webhooks_call_the_operator_by_url_with_the_cluster_ca():
    doc = url_webhooks(UPSTREAM, "jobset", 28110, "Q0E=", {"jobset.x-k8s.io"}, "jobset-system")
    assert doc["metadata"]["name"] == "jobset-mutating-webhook-configuration"
    (only,) = doc["webhooks"]  # the pod webhook is not served here
    assert only["name"] == "mjobset.kb.io"
    assert only["clientConfig"] == {"url": "https://127.0.0.1:28110/mutate-jobset", "caBundle": "Q0E="}
    assert only["namespaceSelector"]["matchExpressions"][0]["values"] == ["kube-system", "jobset-system"]
    assert "service" in UPSTREAM["webhooks"][0]["clientConfig"]  # the input is left as it was
    assert url_webhooks(UPSTREAM, "x", 1, "", {"batch"}, "ns") is None


def test_kueue_pod_webhooks_see_only_pods_that_name_a_queue():
    doc = url_webhooks(UPSTREAM, "kueue", 28114, "Q0E=", {"jobset.x-k8s.io", ""}, "kueue-system")
    by_name = {h["name"]: h for h in doc["webhooks"]}
    assert by_name["mpod.kb.io"]["objectSelector"] == {
        "matchExpressions": [{"key": "kueue.x-k8s.io/queue-name", "operator": "Exists"}]}
    assert "objectSelector" not in by_name["mjobset.kb.io"]
    assert by_name["mpod.kb.io"]["namespaceSelector"]["matchExpressions"][0]["values"] == [
        "kube-system", "kueue-system"]
    kueue = render_config("kueue", PORTS, Path("/c"), ("kueue",))
    assert kueue["manageJobsWithoutQueueName"] is False  # only pods with a queue name are managed
    assert kueue["managedJobsNamespaceSelector"]["matchExpressions"][0]["values"] == ["kube-system", "kueue-system"]


def test_only_the_storage_version_is_served_without_conversion():
    crd = {"spec": {"conversion": {"strategy": "Webhook"}, "versions": [
        {"name": "v1beta1", "served": True, "storage": False}, {"name": "v1beta2", "served": True, "storage": True}]}}
    out = storage_version_only(crd)
    assert [v["name"] for v in out["spec"]["versions"]] == ["v1beta2"] and "conversion" not in out["spec"]
    assert len(crd["spec"]["versions"]) == 2


# ---- configuration ------------------------------------------------------------------

PORTS = {"jobset-webhook": 28110, "jobset-health": 28111, "trainer-webhook": 28112, "trainer-health": 28113,
         "kueue-webhook": 28114, "kueue-health": 28115, "spark-operator-health": 28116}


def addresses(value) -> list[str]:
    text = repr(value)
    return re.findall(r"\d+\.\d+\.\d+\.\d+", text) + re.findall(r"'(:\d+)'", text)


@pytest.mark.parametrize("name", ["jobset", "trainer", "kueue"])
def test_configurations_listen_on_loopback_only_without_leader_election(name):
    doc = render_config(name, PORTS, Path("/certs"), ("jobset", "trainer", "kueue"))
    assert doc["kind"] == "Configuration"
    assert doc["leaderElection"] == {"leaderElect": False} and doc["metrics"] == {"bindAddress": "0"}
    assert doc["health"]["healthProbeBindAddress"] == f"127.0.0.1:{PORTS[name + '-health']}"
    assert doc["webhook"]["port"] == PORTS[name + "-webhook"] and doc["webhook"]["host"] == "127.0.0.1"
    for addr in addresses(doc):
        assert not addr.startswith(":") and ipaddress.ip_address(addr).is_loopback, addr


def test_certificate_management_is_off_everywhere():
    neighbours = ("jobset", "trainer", "kueue")
    assert render_config("jobset", PORTS, Path("/c"), neighbours)["internalCertManagement"] == {"enable": False}
    assert render_config("jobset", PORTS, Path("/c"), neighbours)["webhook"]["certDir"] == "/c"
    assert render_config("trainer", PORTS, Path("/c"), neighbours)["certManagement"] == {"enable": False}
    kueue = render_config("kueue", PORTS, Path("/c"), neighbours)
    assert kueue["internalCertManagement"] == {"enable": False} and kueue["webhook"]["certDir"] == "/c"
    assert kueue["featureGates"]["VisibilityOnDemand"] is False


def test_kueue_integrates_with_the_operators_beside_it():
    assert kueue_frameworks(("kueue",)) == ["batch/job", "pod"]
    assert kueue_frameworks(("jobset", "trainer", "kueue")) == [
        "batch/job", "jobset.x-k8s.io/jobset", "trainer.kubeflow.org/trainjob", "pod"]
    with_spark = render_config("kueue", PORTS, Path("/c"), ("kueue", "spark-operator"))
    assert with_spark["featureGates"]["SparkApplicationIntegration"] is True
    assert "sparkoperator.k8s.io/sparkapplication" in with_spark["integrations"]["frameworks"]
    assert webhook_groups(OPERATORS["kueue"], ("kueue",)) == {"kueue.x-k8s.io", "batch", ""}
    assert "jobset.x-k8s.io" in webhook_groups(OPERATORS["kueue"], ("jobset", "kueue"))


def test_spark_operator_runs_from_flags_on_loopback():
    assert render_config("spark-operator", PORTS, Path("/c"), ("spark-operator",)) is None
    args = spark_operator_args(PORTS)
    assert args[:2] == ["controller", "start"]
    assert "--health-probe-bind-address=127.0.0.1:28116" in args and "--leader-election=false" in args
