"""What the magics print: errors, notices and the jobs table, as HTML with a text fallback.

Every display goes out as a MIME bundle (``text/html`` for notebooks,
``text/plain`` for consoles and logs), so nothing depends on the frontend.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import Any

from . import view

__all__ = ["in_kernel", "jobs_table", "plan_text", "show_error", "show_jobs", "show_notice"]

_E = html.escape


def in_kernel() -> bool:
    """Whether this runs in a Jupyter kernel (where widgets and the kernel's event loop exist)."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency of ipykernel
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def _show(html_text: str, plain: str) -> None:
    from IPython.display import display

    display({"text/html": html_text, "text/plain": plain}, raw=True)


def show_error(message: str) -> None:
    """One paragraph on a red background; never a traceback."""
    _show('<div style="background:#fdecea;color:#611a15;border-left:4px solid #c62828;padding:6px 10px;'
          f'white-space:pre-wrap">{_E(message)}</div>', f"fedspawner: {message}")


def show_notice(message: str) -> None:
    """One paragraph of information."""
    _show(f'<div style="color:#37474f;padding:2px 0;white-space:pre-wrap">{_E(message)}</div>', message)


def _row(job: dict[str, Any], owner: bool, queues: bool) -> list[str]:
    cluster = view.cluster_text(job) if job.get("cluster") else "—"
    row = [job.get("id") or "", job.get("name") or "", job.get("kind") or "", cluster,
           job.get("phase") or "", view.gpu_summary(job), view.format_duration(view.elapsed_seconds(job)),
           (job.get("created") or "")[:19].replace("T", " ")]
    queue = [view.queue_text(job) or ""] if queues else []
    return ([job.get("owner") or ""] if owner else []) + [str(value) for value in row] + queue


def jobs_table(jobs: Iterable[dict[str, Any]], owner: bool = False) -> tuple[str, str]:
    """``(html, text)`` tables of Job dicts (with an owner column for ``--all``, and a queue column when
    a job went through a cluster's Kueue queue)."""
    jobs = list(jobs)
    queues = any(view.queue_text(job) for job in jobs)
    titles = (["owner"] if owner else []) + ["id", "name", "kind", "cluster", "phase", "GPUs", "elapsed",
                                             "created (UTC)"] + (["queue"] if queues else [])
    rows = [_row(job, owner, queues) for job in jobs]
    if not rows:
        return "<i>No jobs.</i>", "No jobs."
    phase_col = titles.index("phase")
    cell = 'style="text-align:left;padding:1px 8px"'
    head = "".join(f"<th {cell}>{_E(title)}</th>" for title in titles)
    body = "".join(
        "<tr>" + "".join(f"<td {cell}>{view.phase_badge(value) if i == phase_col else _E(value)}</td>"
                         for i, value in enumerate(row)) + "</tr>" for row in rows)
    widths = [max(len(title), *(len(row[i]) for row in rows)) for i, title in enumerate(titles)]
    text = "\n".join("  ".join(value.ljust(width) for value, width in zip(line, widths)).rstrip()
                     for line in [titles, *rows])
    return f'<table style="border-collapse:collapse"><tr>{head}</tr>{body}</table>', text


def show_jobs(jobs: Iterable[dict[str, Any]], owner: bool = False) -> None:
    """Display the jobs table."""
    _show(*jobs_table(jobs, owner))


def plan_text(plan: dict[str, Any]) -> str:
    """The gateway's dry run for people: where the job would go, then every candidate and why."""
    first = plan.get("cluster")
    lines = [f"Would go to {first} (dry run: nothing was created)." if first
             else "No member cluster would take it now (dry run: nothing was created)."]
    for i, c in enumerate(plan.get("candidates") or [], 1):
        why = c.get("refused") and f"would refuse it: {c['refused']}"
        why = why or "; ".join(p for p in (c.get("reason"), c.get("queue_reason")
                                           or (c.get("queue") and f"queue {c['queue']}")) if p)
        lines.append(f"{i}. {c.get('cluster')}: {why or 'fits'}")
    return "\n".join(lines)
