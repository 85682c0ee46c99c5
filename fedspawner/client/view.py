"""What the status widget shows, as pure functions of a Job dict.

Nothing here touches a widget or the network: each function turns (part of) a
Job dict into the value one piece of the widget displays, so the rendering is
tested on plain dicts and the widget only assigns the results.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

__all__ = [
    "elapsed_seconds", "format_duration", "gpu_summary", "header_html", "log_html", "message_html",
    "phase_badge", "phases", "cluster_text", "progress_view", "queue_text", "rank_rows", "ranks_html",
]

PHASE_COLOURS = {"Pending": "#b26a00", "Running": "#1565c0", "Succeeded": "#2e7d32", "Failed": "#c62828",
                 "Cancelled": "#616161"}
_ROLE_ORDER = {"driver": 0, "master": 1, "rank": 2, "worker": 3, "executor": 4}
_E = html.escape


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def elapsed_seconds(job: dict[str, Any], now: datetime | None = None) -> float | None:
    """Seconds since the job started (or was created, while it waits), up to its end or ``now``."""
    start = _when(job.get("started")) or _when(job.get("created"))
    if start is None:
        return None
    end = _when(job.get("finished")) or now or datetime.now(timezone.utc)
    return max(0.0, (end - start).total_seconds())


def format_duration(seconds: float | None) -> str:
    """``75`` → ``1:15``, ``3725`` → ``1:02:05``; ``—`` when unknown."""
    if seconds is None:
        return "—"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def gpu_summary(job: dict[str, Any]) -> str:
    """``2 × 4 nvidia-a100-40gb``, ``1 × 1 GPU`` or ``CPU only``."""
    per_node = job.get("gpus_per_node") or 0
    nodes = job.get("nodes") or 1
    if not per_node:
        return "CPU only"
    return f"{nodes} × {per_node} {job.get('gpu_type') or 'GPU'}"


def phase_badge(phase: str | None) -> str:
    """The phase as a coloured label."""
    phase = phase or "Unknown"
    colour = PHASE_COLOURS.get(phase, "#616161")
    return (f'<span style="background:{colour};color:white;border-radius:3px;padding:1px 6px;'
            f'font-size:90%">{_E(phase)}</span>')


def cluster_text(job: dict[str, Any]) -> str:
    """The job's cluster; ``dispatch → batch-a`` when a MultiKueue manager sent it to a worker cluster."""
    cluster = job.get("cluster") or "(placing…)"
    worker = (job.get("queue") or {}).get("dispatched_to")
    return f"{cluster} → {worker}" if worker else cluster


def header_html(job: dict[str, Any]) -> str:
    """Name, id, kind, cluster (and the worker MultiKueue sent it to), GPUs and phase on one line."""
    cluster = cluster_text(job)
    backend = f" ({_E(job['backend'])})" if job.get("backend") else ""
    return (f"<b>{_E(str(job.get('name', '')))}</b> <code>{_E(str(job.get('id', '')))}</code> · "
            f"{_E(str(job.get('kind', '')))}{backend} · cluster <b>{_E(cluster)}</b> · "
            f"{_E(gpu_summary(job))} &nbsp;{phase_badge(job.get('phase'))}")


def queue_text(job: dict[str, Any]) -> str | None:
    """Where the job stands in its cluster's Kueue queue ("queued in team on training, position 2 of 3:
    waiting for quota …", then "admitted by queue …"), or None when it does not go through a queue."""
    queue = job.get("queue") or {}
    return str(queue["text"]) if queue.get("text") else None


def message_html(job: dict[str, Any], status: str = "") -> str:
    """The job's message, its queue, its placement history (failovers) and the widget's own status line."""
    parts = []
    if job.get("message"):
        parts.append(_E(str(job["message"])))
    queued = queue_text(job)
    if queued and queued != job.get("message"):
        parts.append(f'<span style="color:#616161">⧗ {_E(queued)}</span>')
    for line in job.get("history") or []:
        parts.append(f'<span style="color:#616161">↪ {_E(str(line))}</span>')
    if status:
        parts.append(f'<i style="color:#616161">{_E(status)}</i>')
    return "<br>".join(parts)


def phases(job: dict[str, Any] | None) -> tuple:
    """The job's phase and every pod's (name, phase): what changes urgently."""
    if not job:
        return ()
    return (job.get("phase"), *((row["name"], row["phase"]) for row in rank_rows(job)))


def rank_rows(job: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per pod (rank, role, name, phase, node, restarts, ready, reason), driver/master first."""
    rows = []
    for pod in job.get("pods") or []:
        if not isinstance(pod, dict):
            continue
        rows.append({"rank": pod.get("rank"), "role": pod.get("role") or "rank", "name": pod.get("name"),
                     "phase": pod.get("phase"), "node": pod.get("node"),
                     "restarts": pod.get("restarts") or 0, "ready": bool(pod.get("ready")),
                     "reason": pod.get("reason")})
    rows.sort(key=lambda row: (_ROLE_ORDER.get(row["role"], 9),
                               row["rank"] if isinstance(row["rank"], int) else 1 << 30, str(row["name"])))
    return rows


def ranks_html(rows: Iterable[dict[str, Any]]) -> str:
    """The pods as a small table (empty when there are none yet)."""
    rows = list(rows)
    if not rows:
        return ""
    cell = 'style="padding:1px 8px;text-align:left"'
    head = "".join(f"<th {cell}>{title}</th>" for title in ("rank", "role", "phase", "node", "restarts", ""))
    body = []
    for row in rows:
        rank = "" if row["rank"] is None else str(row["rank"])
        values = [_E(rank), _E(row["role"]), phase_badge(row["phase"]), _E(row["node"] or "—"),
                  _E(str(row["restarts"])), _E(row["reason"] or "")]
        body.append("<tr>" + "".join(f"<td {cell}>{value}</td>" for value in values) + "</tr>")
    return f'<table style="border-collapse:collapse;font-size:90%"><tr>{head}</tr>{"".join(body)}</table>'


def progress_view(progress: Any) -> tuple[int, int, str] | None:
    """``(value, max, label)`` for the progress bar, or None when the job reports no progress."""
    if not isinstance(progress, dict) or not isinstance(progress.get("step"), (int, float)):
        return None
    step = int(progress["step"])
    total = progress.get("total")
    total = int(total) if isinstance(total, (int, float)) and total > 0 else 0
    label = f"step {step}/{total}" if total else f"step {step}"
    metrics = progress.get("metrics") or {}
    if isinstance(metrics, dict):
        for key, value in list(metrics.items())[:4]:
            shown = f"{value:.4g}" if isinstance(value, float) else str(value)
            label += f" · {key} {shown}"
    return min(step, total) if total else 0, total, label


def log_html(lines: Iterable[str], title: str) -> str:
    """The log tail as a scrolling monospace block under a small title."""
    text = "\n".join(lines)
    if not text:
        return ""
    # column-reverse keeps the block scrolled to its newest line as it is re-rendered.
    return (f'<div style="font-size:85%;color:#616161">{_E(title)}</div>'
            '<div style="max-height:16em;overflow:auto;display:flex;flex-direction:column-reverse">'
            '<pre style="margin:0;padding:4px;background:#f6f8fa;font-size:85%;line-height:1.3;'
            f'white-space:pre-wrap">{_E(text)}</pre></div>')
