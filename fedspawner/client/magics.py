"""The IPython magics: ``%%fedsubmit``, ``%fedjobs``, ``%fedlogs``, ``%fedcancel``, ``%fedattach``, ``%fedspark``.

Each magic parses its arguments first (nothing is sent when they are wrong),
then makes one blocking request to the gateway. Whatever a user can get wrong
comes back as a ``GatewayRequestError`` and is printed as one paragraph; the magic then
returns None. Interrupting a magic stops it (and ``%fedlogs -f``'s following);
it never cancels a job.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

from IPython.core.magic import Magics, cell_magic, line_magic, magics_class

from .args import HelpShown, parse_job_ref, parse_jobs, parse_logs, parse_submit
from .errors import GatewayRequestError
from .gateway import Gateway, is_job_id
from .job import Job
from .output import plan_text, show_error, show_jobs, show_notice
from .spark_magic import run_fedspark

__all__ = ["FedMagics", "resolve_job"]


def resolve_job(gateway: Gateway, ref: str) -> str:
    """A job id from an id or a name (the newest of your jobs with that name)."""
    if is_job_id(ref):
        return ref
    named = [job for job in gateway.jobs() if job.data.get("name") == ref]
    if not named:
        raise GatewayRequestError(f"You have no job with the id or name {ref!r}; %fedjobs lists your jobs.")
    if len(named) > 1:
        show_notice(f"{len(named)} of your jobs are named {ref!r}; using the newest, {named[0].id} "
                    f"(the others: {', '.join(job.id for job in named[1:])}).")
    return named[0].id


def published_options() -> dict | None:
    """The gateway's option schema, or None when it can't be had (help is shown without it)."""
    try:
        return Gateway().options()
    except GatewayRequestError:
        return None


def reporting(magic: Callable[..., Any]) -> Callable[..., Any]:
    """Print a ``GatewayRequestError`` as one paragraph and return None instead of raising."""

    @functools.wraps(magic)
    def run(self: FedMagics, *args: Any) -> Any:
        try:
            return magic(self, *args)
        except HelpShown:
            return None
        except GatewayRequestError as err:
            show_error(err.message)
            return None

    return run


@magics_class
class FedMagics(Magics):
    """fedspawner's magics; ``%load_ext fedspawner`` registers them."""

    @cell_magic
    @reporting
    def fedsubmit(self, line: str, cell: str) -> Job | None:
        """%%fedsubmit KIND [-n NAME] [--cluster auto|NAME[,NAME…]] [--gpus TYPE:N] [--nodes N] [--image IMG]
        [--pip PKG …] [--env K=V …] [--executors N] [--conf K=V …] [--detach]

        Send the cell body to run as a job and show its live status (see %%fedsubmit --help).
        """
        args = parse_submit(line, schema=published_options)
        gateway = Gateway()
        if args.dry_run:
            show_notice(plan_text(gateway.plan(args.kind, cell, **args.options)))
            return None
        call = gateway.submit_call(args.kind, cell, **args.options)  # validates before sending
        try:
            job = gateway.run(call)
        except KeyboardInterrupt:
            show_error("Interrupted while submitting: the job may or may not have been created; %fedjobs "
                       "lists your jobs.")
            return None
        if args.detach:
            show_notice(f"Submitted {job.id} ({job.data.get('name')}) to {job.data.get('cluster')}. "
                        f"%fedattach {job.id} shows its live status, %fedlogs {job.id} its log.")
            return None
        return job

    @line_magic
    @reporting
    def fedjobs(self, line: str) -> None:
        """%fedjobs [--all] [--state STATE]: your jobs on every cluster, newest first."""
        args = parse_jobs(line)
        jobs = Gateway().jobs(all=args.all, state=args.state)
        show_jobs([job.data for job in jobs], owner=args.all)

    @line_magic
    @reporting
    def fedlogs(self, line: str) -> None:
        """%fedlogs JOB [-f] [--rank R] [--tail N]: a rank's log; -f follows it until interrupted."""
        args = parse_logs(line)
        gateway = Gateway()
        job_id = resolve_job(gateway, args.job)
        lines = iter(gateway.logs(job_id, rank=args.rank, tail=args.tail, follow=args.follow))
        try:
            for text in lines:
                sys.stdout.write(text + "\n")
        except KeyboardInterrupt:
            lines.close()
            show_notice(f"Stopped following the log of {job_id}; the job keeps running "
                        f"(%fedcancel {job_id} cancels it).")
        finally:
            sys.stdout.flush()

    @line_magic
    @reporting
    def fedcancel(self, line: str) -> None:
        """%fedcancel JOB: cancel a job; every object of it is deleted from its cluster."""
        ref = parse_job_ref("%fedcancel", line, "Cancel a job: delete every object of it on its cluster.")
        gateway = Gateway()
        job = gateway.cancel(resolve_job(gateway, ref))
        show_notice(f"Cancelled {job.id} ({job.data.get('name')}) on {job.data.get('cluster')}: its pods are "
                    "stopping and every object of the job is being deleted.")

    @line_magic
    @reporting
    def fedattach(self, line: str) -> Job | None:
        """%fedattach JOB: an existing job's live widget (e.g. after a kernel restart)."""
        ref = parse_job_ref("%fedattach", line, "Show the live status of an existing job.")
        gateway = Gateway()
        return gateway.attach(resolve_job(gateway, ref))

    @line_magic
    @reporting
    def fedspark(self, line: str) -> None:
        """%fedspark start|stop|status|attach: an interactive Spark session on a member cluster
        (``spark`` in the notebook); ``%fedspark --help`` lists the options."""
        return run_fedspark(self.shell, line)
