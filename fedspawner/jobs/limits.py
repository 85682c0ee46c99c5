"""What one job may ask for on this hub: the administrators' limits (pure).

The job spec's checks (``jobs.checks``) hold the hard bounds every hub shares (what
Kubernetes and the renderers can carry at all). ``Limits`` is the administrators' tighter
cap on what one user may size a job at (``c.Gateway.max_nodes`` and friends): the gateway
refuses a job past it, and the option schema publishes it as each option's ``maximum`` so
the Lab's dialog and ``%%fedsubmit --help`` say it before anything is sent.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import Any

from ..errors import UserError
from . import checks
from .validation import parse_quantity

__all__ = ["Limits", "LimitsError", "SETTINGS"]

#: The gateway setting (``c.Gateway.<name>``) behind each limit.
SETTINGS = MappingProxyType({"nodes": "max_nodes", "executors": "max_executors",
                             "gpus_per_node": "max_gpus_per_node", "cpu": "max_cpu", "memory": "max_memory"})


class LimitsError(UserError, ValueError):
    """Limits an administrator configured that can't be used (the message names the setting)."""


@dataclass(frozen=True)
class Limits:
    """The most one job may ask for; every field is within the hard bounds of ``jobs.checks``.

    ``cpu`` and ``memory`` are per pod (Kubernetes quantities), ``gpus_per_node`` per pod,
    ``nodes`` the pods of a job that scales with nodes, ``executors`` Spark's executor
    pods.
    """

    nodes: int = 64
    executors: int = 64
    gpus_per_node: int = 16
    cpu: str = "64"
    memory: str = "512Gi"

    def __post_init__(self) -> None:
        bounds = {"nodes": checks.MAX_NODES, "executors": checks.MAX_EXECUTORS,
                  "gpus_per_node": checks.MAX_GPUS_PER_NODE}
        for name, bound in bounds.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= bound:
                raise LimitsError(f"c.Gateway.{SETTINGS[name]} must be a whole number from 1 to {bound}, "
                                  f"not {value!r}.")
        cpu = parse_quantity(self.cpu) if checks.QUANTITY_RE.fullmatch(str(self.cpu)) else None
        if cpu is None or not parse_quantity("1m") <= cpu <= checks.MAX_CPU_CORES:
            raise LimitsError(f"c.Gateway.max_cpu must be a CPU quantity from 1m to {checks.MAX_CPU_CORES} "
                              f"(cores, or millicores like '500m'), not {self.cpu!r}.")
        memory = parse_quantity(self.memory) if checks.QUANTITY_RE.fullmatch(str(self.memory)) else None
        if memory is None or memory < checks.MIN_SPARK_MEMORY_MIB * 2**20:
            raise LimitsError(f"c.Gateway.max_memory must be a memory quantity of at least "
                              f"{checks.MIN_SPARK_MEMORY_MIB}Mi (what a Spark pod needs), e.g. '256Gi'; not "
                              f"{self.memory!r}.")

    def exceeded(self, spec: Any) -> tuple[str, str] | None:
        """``(field, message)`` for the first limit a ``JobSpec`` goes past, None when it fits."""
        asked = (
            ("nodes", spec.nodes, self.nodes, "nodes (pods) per job", "fewer nodes"),
            ("executors", spec.executors or 0, self.executors, "Spark executors per job", "fewer executors"),
            ("gpus", spec.gpus.count, self.gpus_per_node, "GPUs per node", "fewer GPUs per node and more nodes"),
        )
        for field, value, cap, what, instead in asked:
            setting = SETTINGS["gpus_per_node" if field == "gpus" else field]
            if value > cap:
                return field, self._message(f"{cap} {what}", f"{value}", setting, instead)
        for field, cap, what in (("cpu", self.cpu, "CPU"), ("memory", self.memory, "memory")):
            value = getattr(spec, field)
            if parse_quantity(value) > parse_quantity(cap):
                return field, self._message(f"{cap} {what} per pod", f"{value} per pod", SETTINGS[field],
                                            f"less {what} per pod")
        return None

    @staticmethod
    def _message(limit: str, asked: str, setting: str, instead: str) -> str:
        return (f"This hub lets one job use at most {limit}; the job asks for {asked}. Ask for {instead}, or "
                f"ask the administrators to raise the limit (c.Gateway.{setting}).")

    def maxima(self) -> dict[str, Any]:
        """The limits by option name, as the option schema publishes them."""
        return {"nodes": self.nodes, "executors": self.executors, "gpus": self.gpus_per_node, "cpu": self.cpu,
                "memory": self.memory}

    def to_dict(self) -> dict[str, Any]:
        """Every limit by field name (JSON-ready)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}
