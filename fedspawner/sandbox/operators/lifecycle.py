"""Bring up the operators of a starting sandbox, cluster by cluster."""

from __future__ import annotations

import asyncio
from pathlib import Path

from ..components import ClusterLayout
from . import process
from .build import OperatorBuild
from ..operator_catalog import start_order
from .install import (
    OperatorError,
    install_crds,
    install_default_runtime,
    install_spark_driver_accounts,
    register_webhooks,
    webhook_configurations,
)

#: Operators sync their caches and start their webhook servers; on a busy machine this takes a while.
READY_TIMEOUT = 180.0

__all__ = ["OperatorError", "start_operators"]


def start_operators(clusters: list[ClusterLayout], builds: dict[str, OperatorBuild], state_dir: Path,
                    record, log=print) -> None:
    """Install and start every cluster's operators; ``record(rec)`` keeps each started process.

    CRDs first (an operator exits at start when a CRD it watches is missing), then the
    webhook configurations by URL (and the Spark drivers' service account in the job
    namespaces where the Spark operator runs), then the processes, which must all report ready; last
    Trainer's default runtime (its creation goes through Trainer's webhook).
    """
    clusters = [c for c in clusters if c.spec.operators]
    if not clusters:
        return
    asyncio.run(_install(clusters, builds))
    started = []
    for c in clusters:
        for op in start_order(c.spec.operators):
            rec = process.start(c, builds[op.name], c.spec.operators, state_dir)
            record(rec)
            started.append((c, op.name, rec))
    for c, name, rec in started:
        process.wait_ready(c, rec, name, READY_TIMEOUT)
        log(f"{c.spec.name}: {name} operator ready")
    asyncio.run(_runtimes(clusters, builds))


async def _install(clusters: list[ClusterLayout], builds: dict[str, OperatorBuild]) -> None:
    async def one(c: ClusterLayout) -> None:
        mine = [builds[op.name] for op in start_order(c.spec.operators)]
        await install_crds(c, mine, READY_TIMEOUT)
        await register_webhooks(c, [doc for b in mine for doc in webhook_configurations(b, c, c.spec.operators)])
        if "spark-operator" in c.spec.operators:
            await install_spark_driver_accounts(c, tuple(b.operator.namespace for b in mine))

    await asyncio.gather(*(one(c) for c in clusters))


async def _runtimes(clusters: list[ClusterLayout], builds: dict[str, OperatorBuild]) -> None:
    await asyncio.gather(*(install_default_runtime(c, builds["trainer"], READY_TIMEOUT)
                           for c in clusters if "trainer" in c.spec.operators))
