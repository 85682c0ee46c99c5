"""Kind ``jax``: JAX multi-process over ``nodes`` pods, one JAX process each.

One backend, any cluster: a headless Service and an Indexed Job, like torchrun's. Before the
script runs, a fixed launcher (no user text in it) in every pod calls
``jax.distributed.initialize(coordinator_address=<job>-0.<service>:8476, num_processes=N,
process_id=<the pod's completion index>)``, so pod 0 hosts the coordinator and the script
sees every process's devices (``jax.devices()``); on CPU it first selects gloo collectives,
so ``psum`` and friends work across processes without GPUs.
"""

from __future__ import annotations

from typing import Any

from ..render.common import (
    SCRIPT_DIR,
    Ctx,
    env,
    headless_service,
    indexed_job,
    main_container,
    pod_spec,
    resources,
    script_configmap,
    volume_mounts,
)
from .base import Backend, Kind

COORDINATOR_PORT = 8476
#: Run by ``python -c`` in every pod, then the script as ``__main__`` (its path is the one argument).
LAUNCHER = "\n".join([
    "import os, runpy, sys",
    "import jax",
    "if os.environ.get('FEDSPAWNER_JAX_CPU_COLLECTIVES'):",
    "    jax.config.update('jax_cpu_collectives_implementation', os.environ['FEDSPAWNER_JAX_CPU_COLLECTIVES'])",
    "jax.distributed.initialize(coordinator_address=os.environ['FEDSPAWNER_COORDINATOR_ADDRESS'],",
    "                           num_processes=int(os.environ['FEDSPAWNER_NODES']),",
    "                           process_id=int(os.environ['FEDSPAWNER_RANK']))",
    "sys.argv = sys.argv[1:]",
    "runpy.run_path(sys.argv[0], run_name='__main__')",
])


def render_jax(ctx: Ctx) -> list[dict[str, Any]]:
    """ConfigMap, headless Service and Indexed Job running one JAX process per pod."""
    coordinator = f"{ctx.name}-0.{ctx.name}:{COORDINATOR_PORT}"
    extra = [{"name": "FEDSPAWNER_COORDINATOR_ADDRESS", "value": coordinator}]
    if not ctx.spec.gpus.count:
        extra.append({"name": "FEDSPAWNER_JAX_CPU_COLLECTIVES", "value": "gloo"})
    container = main_container(
        ctx, "main", ["python", "-c", LAUNCHER, f"{SCRIPT_DIR}/{ctx.spec.script_filename}"],
        ports=[("coordinator", COORDINATOR_PORT)], env=env(ctx, rank_from_index=True, extra=extra),
        resources=resources(ctx, gpu=True), mounts=volume_mounts(ctx))
    pod = pod_spec(ctx, containers=[container], gpu=True, subdomain=ctx.name)
    return [
        script_configmap(ctx),
        headless_service(ctx, [("coordinator", COORDINATOR_PORT)]),
        indexed_job(ctx, name=ctx.name, component="rank", completions=ctx.spec.nodes, pod=pod),
    ]


KIND = Kind(
    name="jax",
    summary="JAX multi-process, one process per node",
    default_image="nvcr.io/nvidia/jax:24.04-py3",
    backends=(Backend("indexed-job", render_jax),),
)
