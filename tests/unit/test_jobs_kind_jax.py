"""Kind ``jax``: one JAX process per pod of an Indexed Job, joined by ``jax.distributed`` (pure).

The rules every kind × backend keeps (labels, limits, packages, env, GPUs) run for jax too
in ``test_jobs_render.py``, whose combinations come from the registry.
"""

from __future__ import annotations

import pytest

from fedspawner.jobs import JobSpecError, kinds
from fedspawner.jobs.kinds.jax import COORDINATOR_PORT, LAUNCHER
from fedspawner.jobs.render import render

from .test_jobs_render import GPU, make_spec, make_target


def env_of(container: dict) -> dict:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_an_indexed_job_of_jax_processes_with_rank_0_as_coordinator():
    spec = make_spec("jax", name="jx", nodes=3)
    configmap, service, job = render(spec, make_target("indexed-job"))
    assert (service["kind"], service["spec"]["clusterIP"]) == ("Service", "None")
    assert service["spec"]["ports"][0]["port"] == COORDINATOR_PORT
    assert (job["spec"]["completionMode"], job["spec"]["completions"], job["spec"]["parallelism"]) == \
        ("Indexed", 3, 3)
    assert job["spec"]["backoffLimit"] == 0  # a lost process can't rejoin: fail fast
    pod = job["spec"]["template"]["spec"]
    assert pod["subdomain"] == service["metadata"]["name"] == "jx"
    (container,) = pod["containers"]
    assert container["command"] == ["python", "-c", LAUNCHER, "/fedspawner/script/main.py"]
    env = env_of(container)
    assert env["FEDSPAWNER_COORDINATOR_ADDRESS"] == f"jx-0.jx:{COORDINATOR_PORT}"
    assert env["FEDSPAWNER_NODES"] == "3" and "job-completion-index" in str(env["FEDSPAWNER_RANK"])
    assert env["FEDSPAWNER_JAX_CPU_COLLECTIVES"] == "gloo"


def test_the_launcher_initialises_jax_distributed_from_the_environment_only():
    assert "jax.distributed.initialize(coordinator_address=os.environ['FEDSPAWNER_COORDINATOR_ADDRESS']" \
        in LAUNCHER
    assert "process_id=int(os.environ['FEDSPAWNER_RANK'])" in LAUNCHER
    assert "'jax_cpu_collectives_implementation'" in LAUNCHER
    compile(LAUNCHER, "<launcher>", "exec")
    spec = make_spec("jax", script="print('{user text}')", env={"X": "'; import os"})
    (_, _, job) = render(spec, make_target("indexed-job"))
    assert job["spec"]["template"]["spec"]["containers"][0]["command"][2] == LAUNCHER


def test_gpu_processes_keep_jaxs_own_collectives():
    spec = make_spec("jax", nodes=2, gpus="A100:4")
    (_, _, job) = render(spec, make_target("indexed-job", gpu=GPU))
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert "FEDSPAWNER_JAX_CPU_COLLECTIVES" not in env_of(container)
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "4"


def test_the_kind_scales_with_nodes_and_runs_python_only():
    jax = kinds.get("jax")
    assert jax.expected_pods(4, None) == 4 and jax.leader == "rank 0"
    assert kinds.backends_for("jax", []) == ["indexed-job"]
    assert make_spec("jax").image == jax.default_image and "jax" in jax.default_image
    with pytest.raises(JobSpecError, match="runs python scripts only"):
        make_spec("jax", language="bash")
    with pytest.raises(JobSpecError, match="executors only apply"):
        make_spec("jax", executors=2)
