"""Federation-wide GPU budgets per user and group, and what a user holds where (pure).

Admins set ``c.Federation.gpu_budgets = {"users": {"alice": 8}, "groups": {"students": 1},
"default": 4}``. A user's budget is their own entry, else the largest entry of their groups,
else ``default``; no entry anywhere and no default means no limit. The GPUs a user holds are
counted from the clusters themselves — every active pod in the hub's namespace on every member
that carries the GPU-type label, by its owner annotation — so servers and jobs, on any cluster,
count alike, and nothing is kept anywhere else. Jobs waiting in a cluster's Kueue queue hold no
pods yet: they are reported apart (``with_queued``) and do not use the budget until admitted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ..errors import UserError

__all__ = ["BudgetError", "GpuBudgets", "Holding", "budget_view", "over_budget", "parse_gpu_budgets", "summarise",
           "with_queued"]

BUDGET_FIELDS = ("users", "groups", "default")


class BudgetError(UserError, ValueError):
    """A malformed ``Federation.gpu_budgets``; the message names the field."""


@dataclass(frozen=True)
class Holding:
    """GPUs one server or job of a user holds on one cluster."""

    cluster: str
    what: str  # "server", "server 'gpu'", "job ddp"
    gpus: int


@dataclass(frozen=True)
class GpuBudgets:
    """The admin's budgets. ``limit_for`` says what one user may hold across the federation."""

    users: Mapping[str, int] = field(default_factory=dict)
    groups: Mapping[str, int] = field(default_factory=dict)
    default: int | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.users or self.groups) or self.default is not None

    def limit_for(self, user: str, groups: Iterable[str] = ()) -> int | None:
        """The user's budget in GPUs, or None for no limit."""
        if user in self.users:
            return self.users[user]
        from_groups = [self.groups[g] for g in groups if g in self.groups]
        if from_groups:
            return max(from_groups)
        return self.default


def _count(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BudgetError(f"Federation.gpu_budgets: {where} must be a whole number of GPUs (0 or more), "
                          f"got {value!r}")
    return value


def parse_gpu_budgets(raw: object) -> GpuBudgets:
    """Validate ``Federation.gpu_budgets``; raises BudgetError naming the bad field."""
    if raw in (None, {}):
        return GpuBudgets()
    if not isinstance(raw, Mapping):
        raise BudgetError(f"Federation.gpu_budgets must be a mapping such as {{\"users\": {{\"alice\": 8}}, "
                          f"\"groups\": {{\"students\": 1}}, \"default\": 4}}, got {raw!r}")
    unknown = sorted(set(raw) - set(BUDGET_FIELDS))
    if unknown:
        raise BudgetError(f"Federation.gpu_budgets: field '{unknown[0]}' is not known; use "
                          f"{', '.join(BUDGET_FIELDS)}")
    tables = {}
    for key in ("users", "groups"):
        table = raw.get(key) or {}
        if not isinstance(table, Mapping) or not all(isinstance(k, str) and k for k in table):
            raise BudgetError(f"Federation.gpu_budgets: '{key}' must map {key[:-1]} names to GPU counts, "
                              f"got {table!r}")
        tables[key] = {name: _count(n, f"{key}.{name}") for name, n in table.items()}
    default = raw.get("default")
    return GpuBudgets(users=tables["users"], groups=tables["groups"],
                      default=None if default is None else _count(default, "default"))


def summarise(holdings: Iterable[Holding]) -> str:
    """``2 on onprem (server), 1 on regional (job ddp)``: the largest first."""
    parts = sorted(holdings, key=lambda h: (-h.gpus, h.cluster, h.what))
    return ", ".join(f"{h.gpus} on {h.cluster} ({h.what})" for h in parts)


def over_budget(limit: int | None, holdings: Iterable[Holding], asking: int, what: str = "this") -> str | None:
    """Why asking for ``asking`` more GPUs would exceed ``limit``, for the user; None when it fits."""
    holdings = [h for h in holdings if h.gpus > 0]
    used = sum(h.gpus for h in holdings)
    if limit is None or asking <= 0 or used + asking <= limit:
        return None
    left = max(limit - used, 0)
    if not holdings:
        return (f"{what.capitalize()} asks for {asking} GPUs, more than your GPU budget of {limit} across the "
                f"federation. Ask for at most {limit}, or ask an admin for a larger budget.")
    then = f"Stop a server or cancel a job, or ask for at most {left}." if left else \
        "Stop a server or cancel a job first."
    return (f"{what.capitalize()} asks for {asking} GPUs, but you use {used} of your {limit} GPUs: "
            f"{summarise(holdings)}. {then}")


def budget_view(limit: int | None, holdings: Iterable[Holding]) -> dict:
    """A user's budget as the gateway API and the launch form show it (``limit``/``remaining`` None:
    no limit): ``{"limit", "used", "remaining", "holdings": [{"cluster", "what", "gpus"}], "summary"}``."""
    held = sorted((h for h in holdings if h.gpus > 0), key=lambda h: (-h.gpus, h.cluster, h.what))
    used = sum(h.gpus for h in held)
    remaining = None if limit is None else max(limit - used, 0)
    if limit is None:
        summary = f"no GPU budget; you use {used} GPU{'s' if used != 1 else ''}"
        summary += f": {summarise(held)}" if held else ""
    else:
        summary = f"{remaining} of your {limit} GPUs left" + (f" (in use: {summarise(held)})" if held else "")
    return {"limit": limit, "used": used, "remaining": remaining,
            "holdings": [{"cluster": h.cluster, "what": h.what, "gpus": h.gpus} for h in held], "summary": summary}


def with_queued(view: dict, queued: Iterable[Holding]) -> dict:
    """``budget_view``'s answer with the GPUs the user's jobs ask for while they wait in Kueue queues:
    ``queued`` (a total) and ``queued_holdings``; they are not in ``used`` (admitted work only)."""
    waiting = sorted((h for h in queued if h.gpus > 0), key=lambda h: (-h.gpus, h.cluster, h.what))
    total = sum(h.gpus for h in waiting)
    summary = view["summary"] + (f"; {total} more GPU{'s' if total != 1 else ''} queued, not counted until "
                                 f"admitted: {summarise(waiting)}" if waiting else "")
    return {**view, "queued": total, "summary": summary,
            "queued_holdings": [{"cluster": h.cluster, "what": h.what, "gpus": h.gpus} for h in waiting]}
