"""Unit tests for ``render``: rules every kind × backend keeps, and backend choice.

Backend-specific shapes are in ``test_jobs_render_backends.py``.
"""

from __future__ import annotations

import copy
import json

import pytest
from .test_jobs_manifest_checks import containers_of, manifest_problems, pod_templates

from fedspawner.jobs import (
    GpuScheduling,
    JobSpec,
    JobSpecError,
    RenderTarget,
    backends_for,
    choose_backend,
)
from fedspawner.jobs import kinds
from fedspawner.jobs.kinds import KINDS
from fedspawner.jobs.labels import ANNOTATION_OWNER_NAME, LABEL_OWNER, job_selector
from fedspawner.jobs.render import CRD_FOR_BACKEND, render, supported_backends
from fedspawner.jobs.render.common import PIP_INSTALL
from fedspawner.jobs.spec import MAX_SCRIPT_BYTES

#: Every (kind, backend) the registry declares: a new kind's backends are checked here too.
COMBOS = [(name, backend.name) for name in KINDS for backend in kinds.get(name).backends]


def test_the_combinations_include_every_known_backend():
    assert {("pytorch", "indexed-job"), ("pytorch", "trainjob"), ("spark", "sparkapplication"),
            ("spark", "spark-standalone"), ("job", "indexed-job")} <= set(COMBOS)


GPU = GpuScheduling(
    resource="nvidia.com/gpu",
    node_affinity={"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "nvidia.com/gpu.product", "operator": "In",
                               "values": ["NVIDIA-A100-SXM4-80GB"]}]}]}},
    tolerations=({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},),
)


def make_spec(kind: str, **fields) -> JobSpec:
    data = {"kind": kind, "name": f"{kind[:5]}-job", "script": "print('hello')"}
    data.update(fields)
    return JobSpec.from_dict(data)


def make_target(backend: str, **fields) -> RenderTarget:
    values = {"namespace": "team-a", "job_id": "j-123", "owner": "alice", "backend": backend}
    values.update(fields)
    return RenderTarget(**values)


def problems(objects, spec: JobSpec, target: RenderTarget) -> list[str]:
    return manifest_problems(objects, job_id=target.job_id, owner=target.owner, kind=spec.kind,
                             backend=target.backend, namespace=target.namespace, name=spec.name)


def all_containers(objects):
    return [c for obj in objects for _, template in pod_templates(obj) for c in containers_of(template)]


VARIANTS = {
    "cpu": ({}, {}),
    "gpu": ({"gpus": "A100:2"}, {"gpu": GPU}),
    "everything": ({"gpus": "A100:1", "packages": ["numpy", "pandas>=2"], "env": {"LR": "0.1"},
                    "timeout": 600, "cpu": "2", "memory": "8Gi"},
                   {"gpu": GPU, "service_account": "runner",
                    "extra_labels": {"kueue.x-k8s.io/queue-name": "q"}}),
}


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("kind, backend", COMBOS)
def test_every_combination_renders_valid_labelled_manifests(kind, backend, variant):
    spec_fields, target_fields = VARIANTS[variant]
    spec = make_spec(kind, **({"nodes": 2} if kind != "spark" else {}), **spec_fields)
    target = make_target(backend, **target_fields)
    objects = render(spec, target)
    assert objects[0]["kind"] == "ConfigMap"
    assert problems(objects, spec, target) == []
    assert json.loads(json.dumps(objects)) == objects
    for obj in objects:
        for key, value in target.extra_labels.items():
            assert obj["metadata"]["labels"][key] == value
        for _, template in pod_templates(obj):
            assert template["metadata"]["labels"][LABEL_OWNER] == "alice"
            for key, value in target.extra_labels.items():
                assert template["metadata"]["labels"][key] == value
            if target.service_account and obj["kind"] != "SparkApplication":
                assert template["spec"]["serviceAccountName"] == "runner"


@pytest.mark.parametrize("kind, backend", COMBOS)
def test_render_is_pure_and_deterministic(kind, backend):
    spec = make_spec(kind, packages=["numpy"], env={"A": "1"})
    target = make_target(backend)
    before = (copy.deepcopy(spec.to_dict()), target)
    first, second = render(spec, target), render(spec, target)
    assert first == second
    assert first is not second and first[0] is not second[0]
    assert (spec.to_dict(), target) == before


@pytest.mark.parametrize("kind, backend", COMBOS)
def test_script_configmap(kind, backend):
    spec = make_spec(kind, packages=["numpy", "scipy>=1.10"])
    configmap = render(spec, make_target(backend))[0]
    assert configmap["metadata"]["name"] == f"{spec.name}-script"
    assert configmap["immutable"] is True
    assert configmap["data"]["main.py"] == spec.script
    assert configmap["data"]["requirements.txt"] == "numpy\nscipy>=1.10\n"


@pytest.mark.parametrize("kind, backend", COMBOS)
def test_script_is_mounted_read_only_everywhere(kind, backend):
    objects = render(make_spec(kind), make_target(backend))
    for obj in objects:
        for _, template in pod_templates(obj):
            volumes = {v["name"]: v for v in template["spec"]["volumes"]}
            configmap = objects[0]["metadata"]["name"]
            assert volumes["script"] == {"name": "script", "configMap": {"name": configmap}}
            mounts = template["spec"]["containers"][0]["volumeMounts"]
            assert {"name": "script", "mountPath": "/fedspawner/script", "readOnly": True} in mounts


@pytest.mark.parametrize("kind, backend", COMBOS)
def test_packages_are_installed_without_user_text_in_shell(kind, backend):
    packages = ["numpy", "weird-pkg>=1"]
    objects = render(make_spec(kind, packages=packages), make_target(backend))
    shell_lines = [arg for c in all_containers(objects) for arg in c.get("command", []) if " " in arg]
    shell_lines += [arg for obj in objects if obj["kind"] == "TrainJob"
                    for arg in obj["spec"]["trainer"]["command"]]
    assert any(PIP_INSTALL in line for line in shell_lines)
    assert not any(package in line for line in shell_lines for package in packages)
    for obj in objects:
        for _, template in pod_templates(obj):
            names = [v["name"] for v in template["spec"]["volumes"]]
            assert "pylib" in names
            main = template["spec"]["containers"][0]
            assert {"name": "pylib", "mountPath": "/fedspawner/pylib"} in main["volumeMounts"]
            if obj["kind"] != "TrainJob":
                assert template["spec"]["initContainers"][0]["name"] == "pip-install"
                assert template["spec"]["initContainers"][0]["command"] == ["/bin/sh", "-c", PIP_INSTALL]
    envs = [e for c in all_containers(objects) for e in c.get("env", [])]
    envs += [e for obj in objects if obj["kind"] == "TrainJob" for e in obj["spec"]["trainer"]["env"]]
    assert {"name": "PYTHONUSERBASE", "value": "/fedspawner/pylib"} in envs


@pytest.mark.parametrize("kind, backend", COMBOS)
def test_no_packages_no_install(kind, backend):
    objects = render(make_spec(kind), make_target(backend))
    assert "requirements.txt" not in objects[0]["data"]
    assert not any(c["name"] == "pip-install" for c in all_containers(objects))
    assert "pip" not in json.dumps(objects[1:])


def test_pip_install_command_reads_the_requirements_file():
    assert "-r /fedspawner/script/requirements.txt" in PIP_INSTALL
    assert "--user" in PIP_INSTALL and "PIP_BREAK_SYSTEM_PACKAGES=1" in PIP_INSTALL


@pytest.mark.parametrize("kind, backend", COMBOS)
def test_user_env_reaches_the_main_containers(kind, backend):
    objects = render(make_spec(kind, env={"LR": "0.1", "PYTHONUNBUFFERED": "0"}), make_target(backend))
    # A TrainJob's node container takes its env from spec.trainer only (the Trainer's webhook rule).
    env_lists = [c["env"] for obj in objects if obj["kind"] != "TrainJob"
                 for _, t in pod_templates(obj) for c in t["spec"]["containers"]]
    env_lists += [obj["spec"]["trainer"]["env"] for obj in objects if obj["kind"] == "TrainJob"]
    assert env_lists
    for env in env_lists:
        names = [e["name"] for e in env]
        assert {"name": "LR", "value": "0.1"} in env
        assert {"name": "FEDSPAWNER_JOB_ID", "value": "j-123"} in env
        assert names.count("PYTHONUNBUFFERED") == 1 and {"name": "PYTHONUNBUFFERED", "value": "0"} in env
        assert len(names) == len(set(names))


@pytest.mark.parametrize("kind, backend", COMBOS)
def test_owner_is_label_safe_and_exact_in_annotation(kind, backend):
    owner = "Alice.Smith@Example.org"
    objects = render(make_spec(kind), make_target(backend, owner=owner))
    spec = make_spec(kind)
    assert problems(objects, spec, make_target(backend, owner=owner)) == []
    for obj in objects:
        assert obj["metadata"]["annotations"][ANNOTATION_OWNER_NAME] == owner
        assert obj["metadata"]["labels"][LABEL_OWNER].startswith("alice.smith-example.org-")


@pytest.mark.parametrize("kind, backend", COMBOS)
def test_gpu_jobs_need_gpu_scheduling(kind, backend):
    with pytest.raises(JobSpecError, match="without GPU scheduling") as info:
        render(make_spec(kind, gpus="A100:1"), make_target(backend))
    assert info.value.field == "gpus"


@pytest.mark.parametrize("kind, backend", COMBOS)
def test_cpu_jobs_ignore_gpu_scheduling(kind, backend):
    text = json.dumps(render(make_spec(kind), make_target(backend, gpu=GPU)))
    assert "nvidia.com/gpu" not in text and "affinity" not in text and "tolerations" not in text


@pytest.mark.parametrize("kind, backend", COMBOS)
def test_longest_names_stay_within_limits(kind, backend):
    spec = make_spec(kind, name="a" * 40, **({"executors": 1000} if kind == "spark" else {"nodes": 1000}))
    target = make_target(backend, job_id="j" * 63, owner="o" * 200)
    assert problems(render(spec, target), spec, target) == []


@pytest.mark.parametrize("kind, backend", [
    ("spark", "indexed-job"), ("job", "trainjob"), ("pytorch", "sparkapplication"),
    ("job", "spark-standalone"), ("pytorch", "spark-standalone"),
])
def test_unsupported_combinations_say_what_is_supported(kind, backend):
    with pytest.raises(JobSpecError) as info:
        render(make_spec(kind), make_target(backend))
    message = str(info.value)
    assert f"can't run on the {backend!r} backend" in message
    for supported in supported_backends(kind):
        assert supported in message


def test_mpi_is_refused_with_what_to_do_instead():
    with pytest.raises(JobSpecError, match="MPI jobs are not supported") as info:
        make_spec("mpi", image="me/mpi:1")
    assert info.value.field == "kind" and "kind 'pytorch'" in info.value.message
    with pytest.raises(JobSpecError, match="MPI jobs are not supported"):
        supported_backends("mpi")


@pytest.mark.parametrize("ask", [lambda: make_spec("tensorflow"), lambda: supported_backends("tensorflow"),
                                 lambda: JobSpec.from_dict({"kind": "tensorflow", "script": "print(1)"})])
def test_tensorflow_was_removed_and_the_message_says_what_to_use(ask):
    with pytest.raises(JobSpecError) as info:
        ask()
    assert info.value.field == "kind"
    assert "was removed" in info.value.message and "Training Operator v1" in info.value.message
    assert "kind 'job'" in info.value.message and "kind 'pytorch'" in info.value.message


def test_configmap_limit_counts_files_next_to_the_script():
    script = "#" * (MAX_SCRIPT_BYTES - 100)
    assert render(make_spec("pytorch", script=script), make_target("indexed-job"))
    with pytest.raises(JobSpecError) as info:
        render(make_spec("spark", script=script), make_target("spark-standalone"))
    message = str(info.value)
    assert "900 KiB" in message and "ConfigMap" in message and "899.9 KiB" in message
    with pytest.raises(JobSpecError, match="900 KiB"):
        render(make_spec("pytorch", script=script, packages=["p" * 60] * 2), make_target("indexed-job"))


# -- backend choice -----------------------------------------------------------------------------


ALL_CRDS = set(CRD_FOR_BACKEND.values()) | {"mpijobs.kubeflow.org"}


@pytest.mark.parametrize("kind, crds, expected", [
    ("pytorch", set(), ["indexed-job"]),
    ("pytorch", {"pytorchjobs.kubeflow.org"}, ["indexed-job"]),  # Training Operator v1: not used
    ("pytorch", {"trainjobs.trainer.kubeflow.org"}, ["trainjob", "indexed-job"]),
    ("pytorch", ALL_CRDS | {"pytorchjobs.kubeflow.org"}, ["trainjob", "indexed-job"]),
    ("spark", set(), ["spark-standalone"]),
    ("spark", {"sparkapplications.sparkoperator.k8s.io"}, ["sparkapplication", "spark-standalone"]),
    ("job", ALL_CRDS, ["indexed-job"]),
])
def test_backends_for(kind, crds, expected):
    assert backends_for(kind, crds) == expected
    assert backends_for(kind, list(crds)) == expected


def test_choose_backend():
    assert choose_backend("pytorch", ALL_CRDS) == "trainjob"
    assert choose_backend("spark", []) == "spark-standalone"
    with pytest.raises(JobSpecError, match="Unknown kind"):
        backends_for("ray", ALL_CRDS)


# -- the target ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fields, fragment", [
    ({"namespace": "Team_A"}, "namespace"),
    ({"job_id": ""}, "job_id"),
    ({"job_id": "a/b"}, "job_id"),
    ({"owner": ""}, "owner"),
    ({"backend": "k8s"}, "backend"),
    ({"gpu": {"resource": "nvidia.com/gpu"}}, "GpuScheduling"),
    ({"extra_labels": {"fedspawner.dev/owner": "mallory"}}, "fedspawner sets it"),
    ({"extra_labels": {"app.kubernetes.io/managed-by": "me"}}, "fedspawner sets it"),
    ({"extra_labels": {"bad key": "x"}}, "invalid label"),
    ({"extra_labels": {"team": "a b"}}, "invalid label"),
    ({"service_account": "Bad_SA"}, "service_account"),
])
def test_bad_targets(fields, fragment):
    values = {"namespace": "team-a", "job_id": "j-123", "owner": "alice", "backend": "indexed-job", **fields}
    with pytest.raises(ValueError, match=fragment):
        RenderTarget(**values)


@pytest.mark.parametrize("fields", [{"resource": "gpu"}, {"resource": "nvidia.com/gpu", "node_affinity": []},
                                    {"resource": "nvidia.com/gpu", "tolerations": ["x"]}])
def test_bad_gpu_scheduling(fields):
    with pytest.raises(ValueError):
        GpuScheduling(**fields)


def test_job_selector_matches_every_object():
    target = make_target("spark-standalone")
    selector = job_selector(target.job_id)
    for obj in render(make_spec("spark"), target):
        assert selector.items() <= obj["metadata"]["labels"].items()
        for _, template in pod_templates(obj):
            assert selector.items() <= template["metadata"]["labels"].items()
