"""Unit tests for the shape each backend renders."""

from __future__ import annotations

import pytest

from fedspawner.jobs.render import render
from fedspawner.jobs.labels import LABEL_COMPONENT, LABEL_JOB_ID
from fedspawner.jobs.render.common import PIP_INSTALL, progress_helper_source
from fedspawner.jobs.render.spark_standalone import launcher_source
from fedspawner.jobs.validation import mebibytes

from .test_jobs_render import GPU, make_spec, make_target

RANK_FIELD = "metadata.annotations['batch.kubernetes.io/job-completion-index']"


def by_kind(objects):
    return {(obj["kind"], obj["metadata"]["name"]): obj for obj in objects}


def env_map(container):
    return {item["name"]: item.get("value", item.get("valueFrom")) for item in container["env"]}


# -- pytorch on indexed-job ---------------------------------------------------------------------


def test_pytorch_indexed_job_gpu():
    spec = make_spec("pytorch", name="ddp", nodes=3, gpus="A100:4", timeout=7200)
    configmap, service, job = render(spec, make_target("indexed-job", gpu=GPU))
    assert service["spec"]["clusterIP"] == "None" and service["spec"]["publishNotReadyAddresses"] is True
    assert service["metadata"]["name"] == "ddp"
    pod_labels = job["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert pod_labels[LABEL_COMPONENT] == "rank"
    assert job["spec"] | {"template": None} == {
        "completionMode": "Indexed", "completions": 3, "parallelism": 3, "backoffLimit": 0,
        "activeDeadlineSeconds": 7200, "template": None,
    }
    pod = job["spec"]["template"]["spec"]
    assert pod["subdomain"] == "ddp" and pod["restartPolicy"] == "Never"
    assert pod["automountServiceAccountToken"] is False
    (container,) = pod["containers"]
    assert container["command"] == [
        "torchrun", "--nnodes=3", "--nproc-per-node=4", "--node-rank=$(JOB_COMPLETION_INDEX)",
        "--master-addr=ddp-0.ddp", "--master-port=29500", "--rdzv-conf=timeout=1800",
        "/fedspawner/script/main.py",
    ]
    assert container["resources"] == {
        "requests": {"cpu": "1", "memory": "2Gi", "nvidia.com/gpu": "4"},
        "limits": {"memory": "2Gi", "nvidia.com/gpu": "4"},
    }
    assert pod["affinity"] == {"nodeAffinity": GPU.node_affinity}
    assert pod["tolerations"] == list(GPU.tolerations)
    env = env_map(container)
    assert env["FEDSPAWNER_RANK"] == {"fieldRef": {"fieldPath": RANK_FIELD}}
    assert env["FEDSPAWNER_MASTER_ADDR"] == "ddp-0.ddp" and env["FEDSPAWNER_NODES"] == "3"
    assert {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "1024Mi"}} in pod["volumes"]
    assert configmap["data"] == {"main.py": spec.script, "fedspawner_progress.py": progress_helper_source()}


def test_pytorch_indexed_job_cpu_runs_one_process_per_node():
    (_, _, job) = render(make_spec("pytorch", nodes=2), make_target("indexed-job"))
    pod = job["spec"]["template"]["spec"]
    assert "--nproc-per-node=1" in pod["containers"][0]["command"]
    assert "affinity" not in pod and "tolerations" not in pod
    assert set(pod["containers"][0]["resources"]["requests"]) == {"cpu", "memory"}


# -- job on indexed-job -------------------------------------------------------------------------


@pytest.mark.parametrize("language, command", [
    ("python", ["python", "/fedspawner/script/main.py"]),
    ("bash", ["bash", "/fedspawner/script/main.sh"]),
])
def test_plain_job(language, command):
    spec = make_spec("job", name="sweep", nodes=4, language=language, retries=2)
    configmap, job = render(spec, make_target("indexed-job"))
    assert configmap["data"] == {spec.script_filename: spec.script,
                                 "fedspawner_progress.py": progress_helper_source()}
    assert job["spec"]["completions"] == job["spec"]["parallelism"] == 4
    assert job["spec"]["backoffLimit"] == 2
    assert job["spec"]["podFailurePolicy"] == {"rules": [{
        "action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}]}
    assert job["spec"]["podReplacementPolicy"] == "Failed"
    pod = job["spec"]["template"]["spec"]
    assert pod["containers"][0]["command"] == command
    assert "subdomain" not in pod
    assert env_map(pod["containers"][0])["FEDSPAWNER_RANK"] == {"fieldRef": {"fieldPath": RANK_FIELD}}


# -- pytorch on trainjob ------------------------------------------------------------------------


def trainjob_parts(job):
    (patch,) = job["spec"]["runtimePatches"]
    jobset = patch["trainingRuntimeSpec"]["template"]
    (replicated,) = jobset["spec"]["replicatedJobs"]
    return patch, jobset, replicated, replicated["template"]["spec"]["template"]


def test_trainjob_gpu():
    spec = make_spec("pytorch", name="ddp", nodes=2, gpus="A100:8", env={"LR": "1"}, timeout=99)
    configmap, job = render(spec, make_target("trainjob", gpu=GPU, service_account="trainer"))
    assert (job["apiVersion"], job["kind"]) == ("trainer.kubeflow.org/v1alpha1", "TrainJob")
    assert job["spec"]["runtimeRef"] == {"name": "torch-distributed", "apiGroup": "trainer.kubeflow.org",
                                         "kind": "ClusterTrainingRuntime"}
    assert job["spec"]["activeDeadlineSeconds"] == 99
    trainer = job["spec"]["trainer"]
    assert (trainer["numNodes"], trainer["numProcPerNode"], trainer["image"]) == (2, 8, spec.image)
    assert trainer["command"] == ["torchrun", "--rdzv-conf=timeout=1800", "/fedspawner/script/main.py"]
    assert trainer["resourcesPerNode"]["limits"]["nvidia.com/gpu"] == "8"
    assert env_map(trainer)["LR"] == "1"
    assert not any(name.startswith("PET_") for name in env_map(trainer))
    patch, jobset, replicated, pod = trainjob_parts(job)
    assert patch["manager"] == "fedspawner.dev/renderer"
    assert replicated["name"] == "node"
    for metadata in (jobset["metadata"], replicated["template"]["metadata"], pod["metadata"]):
        assert metadata["labels"][LABEL_JOB_ID] == "j-123"
    assert pod["metadata"]["labels"][LABEL_COMPONENT] == "rank"
    (container,) = pod["spec"]["containers"]
    assert container["name"] == "node" and "env" not in container  # env only via spec.trainer
    assert pod["spec"]["serviceAccountName"] == "trainer"
    assert pod["spec"]["affinity"] == {"nodeAffinity": GPU.node_affinity}
    assert [v["name"] for v in pod["spec"]["volumes"]] == ["script", "dshm"]


def test_trainjob_installs_packages_in_its_command():
    (_, job) = render(make_spec("pytorch", packages=["numpy"]), make_target("trainjob"))
    assert job["spec"]["trainer"]["command"] == [
        "/bin/sh", "-c", PIP_INSTALL + '; exec "$@"', "fedspawner-launch",
        "torchrun", "--rdzv-conf=timeout=1800", "/fedspawner/script/main.py",
    ]
    assert job["spec"]["trainer"]["numProcPerNode"] == 1
    assert "activeDeadlineSeconds" not in job["spec"]


# -- spark on sparkapplication ------------------------------------------------------------------


@pytest.mark.parametrize("image, version", [
    ("spark:3.5.3-python3", "3.5.3"), ("apache/spark-py:v3.4.0", "3.4.0"),
    ("reg:5000/me/spark:latest", "3.5.3"), ("spark@sha256:" + "a" * 64, "3.5.3"),
])
def test_sparkapplication_version_from_image(image, version):
    (_, app) = render(make_spec("spark", image=image), make_target("sparkapplication"))
    assert app["spec"]["sparkVersion"] == version and app["spec"]["image"] == image


def test_sparkapplication():
    spec = make_spec("spark", name="etl", executors=5, cpu="1500m", memory="4Gi", gpus="A100:1",
                     conf={"spark.sql.shuffle.partitions": "16"}, timeout=300)
    (configmap, app) = render(spec, make_target("sparkapplication", gpu=GPU, service_account="spark"))
    s = app["spec"]
    assert (app["apiVersion"], app["kind"]) == ("sparkoperator.k8s.io/v1beta2", "SparkApplication")
    assert (s["type"], s["mode"], s["pythonVersion"]) == ("Python", "cluster", "3")
    assert s["mainApplicationFile"] == "local:///fedspawner/script/main.py"
    assert s["sparkConf"] == {"spark.ui.port": "4040", "spark.sql.shuffle.partitions": "16"}
    assert s["restartPolicy"] == {"type": "Never"}
    assert s["executor"]["instances"] == 5 and s["executor"]["deleteOnTermination"] is False
    assert s["driver"]["serviceAccount"] == "spark"
    assert s["sparkUIOptions"]["serviceLabels"][LABEL_JOB_ID] == "j-123"
    assert app["metadata"]["annotations"]["fedspawner.dev/spark-ui-service"] == "etl-ui-svc"
    for role, container in (("driver", "spark-kubernetes-driver"), ("executor", "spark-kubernetes-executor")):
        part = s[role]
        assert (part["cores"], part["coreRequest"]) == (1, "1500m")
        heap, overhead = int(part["memory"][:-1]), int(part["memoryOverhead"][:-1])
        assert heap + overhead == mebibytes("4Gi") and heap >= 2048
        assert part["labels"][LABEL_COMPONENT] == role
        template = part["template"]
        assert template["spec"]["containers"][0]["name"] == container
        assert template["spec"]["activeDeadlineSeconds"] == 300
    executor_pod, driver_pod = s["executor"]["template"]["spec"], s["driver"]["template"]["spec"]
    assert executor_pod["containers"][0]["resources"] == {"limits": {"nvidia.com/gpu": "1"}}
    assert executor_pod["affinity"] == {"nodeAffinity": GPU.node_affinity}
    assert "resources" not in driver_pod["containers"][0] and "affinity" not in driver_pod
    assert executor_pod["automountServiceAccountToken"] is False
    assert "automountServiceAccountToken" not in driver_pod  # the driver creates executor pods


# -- spark on spark-standalone ------------------------------------------------------------------


def standalone(**fields):
    objects = render(make_spec("spark", name="etl", **fields), make_target("spark-standalone", gpu=GPU))
    configmap, service, driver, workers = objects
    return configmap, service, driver, workers


def test_standalone_objects_and_service():
    configmap, service, driver, workers = standalone()
    assert (driver["metadata"]["name"], workers["metadata"]["name"]) == ("etl-driver", "etl-worker")
    assert configmap["data"]["fedspawner_spark.py"] == launcher_source()
    compile(launcher_source(), "fedspawner_spark.py", "exec")
    ports = {p["name"]: p["port"] for p in service["spec"]["ports"]}
    assert ports == {"spark": 7077, "master-ui": 8080, "spark-ui": 4040}
    for job in (driver, workers):
        pod = job["spec"]["template"]
        assert pod["spec"]["subdomain"] == "etl"
        assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert driver["spec"]["template"]["metadata"]["annotations"] == driver["metadata"]["annotations"]
    assert driver["metadata"]["annotations"]["fedspawner.dev/spark-ui-host"] == "etl-driver-0.etl"
    assert driver["metadata"]["annotations"]["fedspawner.dev/spark-ui-port"] == "4040"


def test_standalone_driver_pod_runs_master_and_driver_in_one_container():
    _, _, driver, _ = standalone(conf={"spark.sql.shuffle.partitions": "16", "spark.sql.session.timeZone": "a$b"},
                                 executors=3, cpu="2", memory="4Gi")
    assert driver["spec"] | {"template": None} == {
        "completionMode": "Indexed", "completions": 1, "parallelism": 1, "backoffLimit": 0, "template": None}
    pod = driver["spec"]["template"]["spec"]
    assert "initContainers" not in pod  # the launcher starts the master itself (no sidecar needed)
    (container,) = pod["containers"]
    assert env_map(container)["SPARK_MASTER_HOST"] == {"fieldRef": {"fieldPath": "status.podIP"}}
    assert env_map(container)["FEDSPAWNER_MASTER_LOG"] == "/fedspawner/work/spark-master.log"
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == \
        {"spark": 7077, "master-ui": 8080, "spark-ui": 4040}
    assert container["resources"]["requests"] == {"cpu": "2250m", "memory": "5120Mi"}
    command = container["command"]
    assert command[:3] == ["python3", "/fedspawner/script/fedspawner_spark.py", "driver"]
    assert command[-1] == "/fedspawner/script/main.py"
    pairs = dict(zip(command[3:-1:2], command[4:-1:2]))
    assert pairs["--master"] == "spark://$(FEDSPAWNER_POD_IP):7077"
    assert pairs["--deploy-mode"] == "client"
    confs = [arg for flag, arg in zip(command[3:-1], command[4:-1]) if flag == "--conf"]
    assert "spark.driver.host=$(FEDSPAWNER_POD_IP)" in confs
    assert "spark.driver.bindAddress=$(FEDSPAWNER_POD_IP)" in confs
    assert "spark.executor.cores=2" in confs and "spark.cores.max=6" in confs
    assert "spark.sql.shuffle.partitions=16" in confs and "spark.sql.session.timeZone=a$$b" in confs
    env = env_map(container)
    assert env["SPARK_LOCAL_IP"] == env["FEDSPAWNER_POD_IP"] == {"fieldRef": {"fieldPath": "status.podIP"}}
    assert env["PYSPARK_PYTHON"] == "python3"
    assert "nvidia.com/gpu" not in str(pod)


def test_standalone_workers():
    _, _, driver, workers = standalone(executors=4, cpu="3", memory="8Gi", gpus="A100:1", packages=["x"])
    spec = workers["spec"]
    assert spec["completions"] == spec["parallelism"] == 4 and spec["backoffLimit"] == 4
    assert spec["podReplacementPolicy"] == "Failed"
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    (worker,) = pod["containers"]
    command = worker["command"]
    assert command[:4] == ["python3", "/fedspawner/script/fedspawner_spark.py", "worker",
                           "spark://etl-driver-0.etl:7077"]
    memory = int(command[command.index("--memory") + 1][:-1])
    assert command[command.index("--cores") + 1] == "3"
    assert memory + 768 <= mebibytes("8Gi")
    conf = driver["spec"]["template"]["spec"]["containers"][0]["command"]
    assert f"spark.executor.memory={memory}m" in conf
    assert worker["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert pod["affinity"] == {"nodeAffinity": GPU.node_affinity}
    env = env_map(worker)
    assert env["SPARK_LOCAL_IP"] == {"fieldRef": {"fieldPath": "status.podIP"}}
    assert env["SPARK_WORKER_DIR"] == "/fedspawner/work" and env["PYTHONUSERBASE"] == "/fedspawner/pylib"
    assert [c["name"] for c in pod["initContainers"]] == ["pip-install"]
    assert [c["name"] for c in driver["spec"]["template"]["spec"]["initContainers"]] == ["pip-install"]
