"""The kernel side of fedspawner: send jobs to member clusters and watch them, from Python or magics.

Everything goes through the fedspawner gateway (a JupyterHub service) over
HTTP, with the notebook's JupyterHub token; the kernel never holds cluster
credentials. From plain Python::

    from fedspawner import client
    job = client.submit("pytorch", open("train.py").read(), nodes=2, gpus="nvidia-a100-40gb:4")
    job                      # in a notebook: the live status widget
    for line in client.logs(job.id, follow=True):
        print(line)
    client.cancel(job.id)

In a notebook, ``%load_ext fedspawner`` adds ``%%fedsubmit``, ``%fedjobs``,
``%fedlogs``, ``%fedcancel`` and ``%fedattach`` (in every kernel of an environment
where ``fedspawner kernel-autoload enable`` was run, as on the hub's servers).
Errors a user can cause raise ``GatewayRequestError`` with one paragraph saying what
to do. The module functions build a ``Gateway`` from the environment each
time; make your own ``Gateway(url, token)`` to talk to another one.
"""

from __future__ import annotations

from typing import Any

from .errors import ArgumentsError, GatewayRequestError
from .extension import load_ipython_extension, unload_ipython_extension
from .gateway import Gateway
from .job import Job
from .streams import Stream

__all__ = [
    "ArgumentsError", "Gateway", "GatewayRequestError", "Job", "JobWidget", "Stream", "attach", "cancel",
    "clusters", "job", "jobs", "load_ipython_extension", "logs", "submit", "unload_ipython_extension",
]


def submit(kind: str, script: str, **options: Any) -> Job:
    """Send ``script`` as a job of ``kind`` (see ``Gateway.submit`` for the options)."""
    return Gateway().submit(kind, script, **options)


def jobs(all: bool = False, state: str | None = None) -> list[Job]:
    """Your jobs on every cluster, newest first."""
    return Gateway().jobs(all=all, state=state)


def job(job_id: str) -> Job:
    """One job as it is now."""
    return Gateway().job(job_id)


def logs(job_id: str, rank: int = 0, tail: int | None = None, follow: bool = False) -> Stream[str]:
    """A rank's log lines; iterate with ``for`` or ``async for``."""
    return Gateway().logs(job_id, rank=rank, tail=tail, follow=follow)


def cancel(job_id: str) -> Job:
    """Cancel a job (every object of it is deleted from its cluster)."""
    return Gateway().cancel(job_id)


def attach(job_id: str) -> Job:
    """A handle on an existing job; shown in a notebook, it is the live status widget."""
    return Gateway().attach(job_id)


def clusters() -> list[dict[str, Any]]:
    """The member clusters: health, backends and GPU inventory."""
    return Gateway().clusters()


def __getattr__(name: str) -> Any:
    if name == "JobWidget":  # imported on demand: it pulls in ipywidgets
        from .widget import JobWidget

        return JobWidget
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
