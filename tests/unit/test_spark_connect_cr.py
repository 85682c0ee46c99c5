"""Pure parts of Spark sessions on the Spark operator: the SparkConnect renderer, GPU executors on
both session backends, and which backend a cluster gets."""

from __future__ import annotations

import json

import grpc
import pytest
from pyspark.errors.exceptions.connect import AnalysisException, SparkConnectGrpcException

from fedspawner.client.errors import ArgumentsError
from fedspawner.client.spark_magic import parse_fedspark
from fedspawner.client.spark_session import is_unreachable, session_body
from fedspawner.gateway.policy import manifest_violations
from fedspawner.jobs import JobSpec
from fedspawner.jobs.labels import LABEL_BACKEND, LABEL_COMPONENT, LABEL_GPU_TYPE, LABEL_MANAGED_BY, MANAGED_BY
from fedspawner.jobs.render import GpuScheduling, RenderTarget
from fedspawner.jobs.render.spark_connect import LABEL_SESSION_ID, SESSION_MANAGED_BY, render_spark_connect
from fedspawner.jobs.render.spark_connect_backends import SESSION_BACKENDS, session_backend
from fedspawner.jobs.render.spark_connect_cr import (EXECUTOR_CONTAINER, SERVER_CONTAINER, SPARKCONNECT,
                                                     render_spark_connect_cr, server_pod_name)

AVOID = {"weight": 50, "preference": {"matchExpressions": [
    {"key": "nvidia.com/gpu.present", "operator": "DoesNotExist"}]}}
L4 = GpuScheduling(resource="nvidia.com/gpu", node_affinity={"requiredDuringSchedulingIgnoredDuringExecution": {
    "nodeSelectorTerms": [{"matchExpressions": [{"key": "nvidia.com/gpu.product", "operator": "In",
                                                 "values": ["NVIDIA-L4"]}]}]}},
                   tolerations=({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},))


def spec(**fields) -> JobSpec:
    return JobSpec.from_dict({"kind": "spark", "script": "#", "name": "spark-x-abcdefgh",
                              "image": "spark:4.0.1-python3", "cpu": "2", "memory": "4Gi", **fields})


def target(**extra) -> RenderTarget:
    return RenderTarget(namespace="fed", job_id="s-abcdefgh", owner="alice@example.org", backend="sparkapplication",
                        service_account="spark-operator-spark", avoid_gpu_nodes=AVOID, **extra)


def test_a_session_on_the_operator_is_one_sparkconnect_sized_like_the_spec():
    [conn] = render_spark_connect_cr(spec(executors=3), target(), {"fedspawner.dev/session": "{}"})
    assert (conn["apiVersion"], conn["kind"], conn["metadata"]["name"]) == \
        ("sparkoperator.k8s.io/v1alpha1", "SparkConnect", "spark-x-abcdefgh")
    assert SPARKCONNECT.crd == "sparkconnects.sparkoperator.k8s.io"
    body = conn["spec"]
    assert (body["sparkVersion"], body["image"]) == ("4.0.1", "spark:4.0.1-python3")
    # heap 60% of the pod's 4 GiB, the rest overhead: the pod asks for exactly 4 GiB
    assert body["executor"] == {**body["executor"], "instances": 3, "cores": 2, "memory": "2457m"}
    assert body["sparkConf"]["spark.executor.memoryOverhead"] == "1639m"
    assert body["sparkConf"]["spark.kubernetes.executor.request.cores"] == "2"
    assert body["sparkConf"]["spark.kubernetes.executor.useDriverPodIP"] == "false"  # not the 0.0.0.0 bind
    assert body["server"]["template"]["spec"]["restartPolicy"] == "Never"  # a restarted server lost its sessions
    server = body["server"]["template"]
    assert server["spec"]["serviceAccountName"] == "spark-operator-spark"
    [container] = server["spec"]["containers"]
    assert container["name"] == SERVER_CONTAINER and "command" not in container  # the operator sets it
    assert container["resources"]["requests"] == {"cpu": "2", "memory": "4096Mi"}
    assert server["metadata"]["annotations"]["fedspawner.dev/session"] == "{}"
    assert conn["metadata"]["annotations"]["fedspawner.dev/session"] == "{}"  # the anchor holds the record
    executor = body["executor"]["template"]
    assert executor["spec"]["containers"][0]["name"] == EXECUTOR_CONTAINER
    assert executor["spec"]["automountServiceAccountToken"] is False
    assert server_pod_name("spark-x-abcdefgh") == "spark-x-abcdefgh-server"
    assert manifest_violations([conn], "fed") == []
    conn["spec"]["sparkConf"]["spark.kubernetes.driver.secrets.hub"] = "/s"  # the check reads SparkConnects too
    assert manifest_violations([conn], "fed") == [
        f"SparkConnect/{conn['metadata']['name']}: Spark setting spark.kubernetes.driver.secrets.hub is not on "
        "the allow-list"]


def test_the_sparkconnect_and_its_pods_are_labelled_as_the_sessions():
    [conn] = render_spark_connect_cr(spec(), target())
    assert f'"{LABEL_MANAGED_BY}": "{MANAGED_BY}"' not in json.dumps(conn)
    for labels, component in ((conn["metadata"]["labels"], None),
                              (conn["spec"]["server"]["template"]["metadata"]["labels"], "driver"),
                              (conn["spec"]["executor"]["template"]["metadata"]["labels"], "executor")):
        assert labels[LABEL_MANAGED_BY] == SESSION_MANAGED_BY and labels[LABEL_SESSION_ID] == "s-abcdefgh"
        assert labels[LABEL_BACKEND] == "sparkconnect" and labels.get(LABEL_COMPONENT) == component


def test_cpu_sessions_prefer_non_gpu_nodes_everywhere():
    [conn] = render_spark_connect_cr(spec(), target())
    for part in ("server", "executor"):
        pod = conn["spec"][part]["template"]["spec"]
        assert pod["affinity"]["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"] == [AVOID]
        assert "nvidia.com/gpu" not in json.dumps(pod["containers"])


def test_gpu_executors_request_the_type_and_land_on_its_nodes_on_both_backends():
    gpu_spec = spec(gpus="L4:1", executors=2)
    gpu_target = target(gpu=L4, gpu_type="nvidia-l4")
    [conn] = render_spark_connect_cr(gpu_spec, gpu_target)
    executor = conn["spec"]["executor"]["template"]
    assert executor["spec"]["containers"][0]["resources"] == {"limits": {"nvidia.com/gpu": "1"},
                                                              "requests": {"nvidia.com/gpu": "1"}}
    assert executor["spec"]["affinity"]["nodeAffinity"] == L4.node_affinity
    assert executor["spec"]["tolerations"] == list(L4.tolerations)
    assert executor["metadata"]["labels"][LABEL_GPU_TYPE] == "nvidia-l4"
    server = conn["spec"]["server"]["template"]["spec"]
    assert "nvidia.com/gpu" not in json.dumps(server["containers"])  # the server holds no GPU, and avoids GPU nodes
    assert server["affinity"]["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"] == [AVOID]

    standalone = render_spark_connect(gpu_spec, RenderTarget(
        namespace="fed", job_id="s-abcdefgh", owner="alice", backend="spark-standalone", gpu=L4,
        gpu_type="nvidia-l4", avoid_gpu_nodes=AVOID))
    workers = [o for o in standalone if o["metadata"]["name"].endswith(("-worker-1", "-worker-2"))]
    assert len(workers) == 2
    for worker in workers:
        assert worker["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
        assert worker["spec"]["affinity"]["nodeAffinity"] == L4.node_affinity
    driver = next(o for o in standalone if o["metadata"]["name"].endswith("-driver"))
    assert "nvidia.com/gpu" not in json.dumps(driver["spec"]["containers"])


def test_the_operator_backend_is_chosen_where_sparkconnect_is_served():
    assert [b.name for b in SESSION_BACKENDS] == ["sparkconnect", "spark-standalone"]
    assert session_backend({"sparkconnects.sparkoperator.k8s.io"}).name == "sparkconnect"
    assert session_backend({"sparkapplications.sparkoperator.k8s.io"}).name == "spark-standalone"
    assert session_backend(()).name == "spark-standalone"
    assert session_backend(()).server_pod("x") == "x-driver"


def test_fedspark_start_takes_gpus_and_restart():
    args = parse_fedspark("start --gpus L4:1 --executors 2")
    assert args.options == {"gpus": "L4:1", "executors": 2} and not args.restart
    restarted = parse_fedspark("start --restart s-abcdefgh --cluster onprem")
    assert restarted.restart and restarted.session == "s-abcdefgh" and restarted.options == {"cluster": "onprem"}
    assert parse_fedspark("start --restart").session is None
    for line, words in [("stop --restart", "takes no options"), ("start s-abcdefgh", "takes no session"),
                        ("status --gpus L4:1", "takes no options")]:
        with pytest.raises(ArgumentsError, match=words):
            parse_fedspark(line)
    assert session_body(gpus="L4:1") == {"gpus": "L4:1"}


def test_only_a_connection_failure_is_the_sessions_not_the_querys():
    unavailable = SparkConnectGrpcException("Connection refused", grpc_status_code=grpc.StatusCode.UNAVAILABLE)
    assert is_unreachable(unavailable)
    try:  # as the client raises it: inside the handling of another error
        try:
            raise unavailable
        except SparkConnectGrpcException as inner:
            raise RuntimeError("retries exceeded") from inner
    except RuntimeError as outer:
        assert is_unreachable(outer)
    assert not is_unreachable(AnalysisException("[UNRESOLVED_COLUMN] x", grpc_status_code=grpc.StatusCode.INTERNAL))
    assert not is_unreachable(ValueError("no"))
