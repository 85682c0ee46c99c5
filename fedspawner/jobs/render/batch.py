"""Renderers that need nothing but core Kubernetes: Indexed Jobs.

``pytorch`` on ``indexed-job`` runs on any cluster: a headless Service and an
Indexed Job of ``nodes`` pods, all started at once. Pod ``i`` is node rank
``i``; its host name is ``<job>-<i>`` and, with ``subdomain`` set to the
Service, it resolves as ``<job>-<i>.<service>``. Every pod runs::

    torchrun --nnodes=N --nproc-per-node=P --node-rank=$(JOB_COMPLETION_INDEX)
             --master-addr=<job>-0.<service> --master-port=29500
             --rdzv-conf=timeout=1800 /fedspawner/script/main.py

Rendezvous: torchrun's *static* rendezvous (the default when no
``--rdzv-backend`` is given). The node rank is fixed by the completion index,
so global rank ``r`` always lives in pod ``r // P`` and "rank R's logs" is one
pod's log; pod 0 hosts the TCPStore on the master port and the others connect
to it, retrying while its DNS name doesn't resolve yet. ``c10d`` rendezvous
would also work with Indexed Jobs but assigns node ranks in arrival order,
which loses that mapping, and its one advantage (elastic membership and
restarts) doesn't apply: the Job has ``backoffLimit: 0`` because a replaced
pod can't rejoin a static gang, so one failed rank fails the job fast instead
of leaving the others hanging in a collective. The only ``--rdzv`` option
used is ``--rdzv-conf=timeout=1800`` (static rendezvous honours it), so a rank
whose image pull is slow still finds the others; the default is 600 seconds.
``P`` is the GPUs per node, or 1 on CPU.

``job`` on ``indexed-job`` is the same Indexed Job without Service or
torchrun: ``nodes`` independent pods running ``python main.py`` or ``bash
main.sh``, each knowing its index as ``FEDSPAWNER_RANK``. ``retries`` failed
pods are retried (each index again), and pods the cluster evicts or preempts
are replaced without using up a retry.
"""

from __future__ import annotations

from typing import Any

from .common import (
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

TORCH_MASTER_PORT = 29500
#: Seconds torchrun's static rendezvous waits for all nodes.
TORCH_RDZV_TIMEOUT = 1800


def torchrun_args(ctx: Ctx) -> list[str]:
    """The torchrun options every backend passes (rendezvous timeout), then the script."""
    return [f"--rdzv-conf=timeout={TORCH_RDZV_TIMEOUT}", f"{SCRIPT_DIR}/{ctx.spec.script_filename}"]


def procs_per_node(ctx: Ctx) -> int:
    """Processes torchrun starts per node: one per GPU, or one on CPU."""
    return ctx.spec.gpus.count or 1


def render_pytorch(ctx: Ctx) -> list[dict[str, Any]]:
    """ConfigMap, headless Service and Indexed Job running torchrun on every node."""
    service = ctx.name
    master = f"{ctx.name}-0.{service}"
    command = [
        "torchrun",
        f"--nnodes={ctx.spec.nodes}",
        f"--nproc-per-node={procs_per_node(ctx)}",
        "--node-rank=$(JOB_COMPLETION_INDEX)",
        f"--master-addr={master}",
        f"--master-port={TORCH_MASTER_PORT}",
        *torchrun_args(ctx),
    ]
    container = main_container(ctx, "main", command, ports=[("c10d", TORCH_MASTER_PORT)], env=env(
        ctx, rank_from_index=True, extra=[
            {"name": "FEDSPAWNER_MASTER_ADDR", "value": master},
            {"name": "FEDSPAWNER_MASTER_PORT", "value": str(TORCH_MASTER_PORT)},
        ]), resources=resources(ctx, gpu=True), mounts=volume_mounts(ctx, shm=True))
    pod = pod_spec(ctx, containers=[container], gpu=True, shm=True, subdomain=service)
    return [
        script_configmap(ctx),
        headless_service(ctx, [("c10d", TORCH_MASTER_PORT)]),
        indexed_job(ctx, name=ctx.name, component="rank", completions=ctx.spec.nodes, pod=pod),
    ]


def render_plain(ctx: Ctx) -> list[dict[str, Any]]:
    """ConfigMap and Indexed Job running the script on each of ``nodes`` pods."""
    interpreter = "bash" if ctx.spec.language == "bash" else "python"
    container = main_container(ctx, "main", [interpreter, f"{SCRIPT_DIR}/{ctx.spec.script_filename}"],
                               env=env(ctx, rank_from_index=True), resources=resources(ctx, gpu=True),
                               mounts=volume_mounts(ctx))
    pod = pod_spec(ctx, containers=[container], gpu=True)
    return [
        script_configmap(ctx),
        indexed_job(ctx, name=ctx.name, component="rank", completions=ctx.spec.nodes, pod=pod,
                    backoff_limit=ctx.spec.retries, ignore_disruptions=True),
    ]
