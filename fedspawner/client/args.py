"""The magics' command lines, parsed into plain values before anything is sent.

Each ``parse_*`` function takes the text after the magic's name and returns a
small dataclass, or raises ``ArgumentsError`` with one paragraph that names the
bad argument and shows the usage. ``--help`` prints the full help and raises
``HelpShown``, which the magics treat as "done".
"""

from __future__ import annotations

import argparse
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn

from .errors import ArgumentsError

__all__ = ["HelpShown", "JobsArgs", "LogsArgs", "SubmitArgs", "parse_job_ref", "parse_jobs", "parse_logs",
           "parse_submit"]


class HelpShown(Exception):
    """``--help`` was given; the help text has been printed."""


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting the kernel."""

    def error(self, message: str) -> NoReturn:
        usage = " ".join(self.format_usage().split()).removeprefix("usage: ")
        raise ArgumentsError(f"{self.prog}: {message}. Usage: {usage} (more with {self.prog} --help).")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if status:
            self.error(message or "invalid arguments")
        raise HelpShown()


def _split(prog: str, line: str) -> list[str]:
    try:
        return shlex.split(line)
    except ValueError as err:
        raise ArgumentsError(f"{prog}: can't read the arguments ({err}); close every quote you "
                             "open.") from None


def _count(option: str, low: int, high: int | None = None):
    """A converter for a whole-number option, by the job spec's own rules (ASCII digits, the
    option schema's bounds)."""
    def convert(text: str) -> int:
        from fedspawner.jobs.checks import COUNT_TEXT_RE  # imported when used: keeps the client light

        value = int(text) if COUNT_TEXT_RE.fullmatch(text) else None
        if value is None or value < low or (high is not None and value > high):
            bounds = f"from {low} to {high}" if high is not None else f"of at least {low}"
            raise ArgumentsError(f"{option} must be a whole number {bounds}, not {text!r}; write it in digits "
                                 "0-9.")
        return value
    return convert


def _add_count(parser: argparse.ArgumentParser, option: str, low: int, help: str, metavar: str = "N",
               **kwargs: Any) -> None:
    parser.add_argument(option, metavar=metavar, type=_count(option, low), help=help, **kwargs)


_EXAMPLES = {"--env": "BATCH=64", "--conf": "spark.sql.shuffle.partitions=8"}


def _key_value(option: str):
    def convert(text: str) -> tuple[str, str]:
        key, sep, value = text.partition("=")
        if not sep or not key.strip() or key != key.strip():
            problem = "no '='" if not sep else "no key right before the '='"
            raise ArgumentsError(
                f"{option} takes KEY=VALUE pairs (e.g. {option} {_EXAMPLES[option]}); {text!r} has "
                f"{problem}. "
                f"Quote a value with spaces: {option} \"KEY=some value\".")
        return key, value
    return convert


def _gpu_request(option: str, pattern: str):
    """A converter for ``--gpus``: the option schema's ``string_pattern``, as the job spec reads it."""
    def convert(text: str) -> str:
        if re.fullmatch(pattern, text) is None:
            raise ArgumentsError(f"{option} takes TYPE:N (GPUs of a canonical type per node, e.g. {option} "
                                 f"nvidia-a100-40gb:2) or just N for any type (e.g. {option} 1), N in digits "
                                 f"0-9; {text!r} is neither.")
        return text
    return convert


# --- %%fedsubmit --------------------------------------------------------------------------------

@dataclass(frozen=True)
class SubmitArgs:
    """``%%fedsubmit``'s arguments: the kind, the ``submit`` options, and whether to detach."""

    kind: str
    options: dict[str, Any] = field(default_factory=dict)
    detach: bool = False
    dry_run: bool = False


#: Short spellings of ``%%fedsubmit`` flags (the flags themselves come from the option schema).
SHORT_FLAGS = {"--name": "-n"}
#: How each option type of the schema is read from the command line: ``(nargs, convert)``.
_LIST_TYPES = ("list", "mapping")


def _usage(options) -> str:
    parts = ["%(prog)s KIND"]
    for opt in options:
        if opt.flag:
            flag = SHORT_FLAGS.get(opt.flag, opt.flag)
            parts.append(f"[{flag} {opt.metavar}{' …' if opt.type in _LIST_TYPES else ''}]")
    return " ".join(parts) + " [--detach] [--dry-run]"


def _add_option(parser: argparse.ArgumentParser, opt) -> None:
    """One option of the schema as an argparse argument (its ``%%fedsubmit`` flag)."""
    flags = [SHORT_FLAGS[opt.flag], opt.flag] if opt.flag in SHORT_FLAGS else [opt.flag]
    kwargs: dict[str, Any] = {"metavar": opt.metavar, "dest": opt.name, "help": opt.help}
    if opt.type == "integer":
        kwargs["type"] = _count(opt.flag, opt.constraints["minimum"], opt.constraints.get("maximum"))
    elif opt.type == "gpus":
        kwargs["type"] = _gpu_request(opt.flag, opt.constraints["string_pattern"])
    elif opt.type == "enum":
        kwargs["choices"] = opt.constraints["choices"]
        kwargs.pop("metavar")
    elif opt.type in _LIST_TYPES:
        kwargs.update(nargs="+", action="extend")
        if opt.type == "mapping":
            kwargs["type"] = _key_value(opt.flag)
    parser.add_argument(*flags, **kwargs)


def _submit_parser() -> _Parser:
    from fedspawner.jobs.options import OPTIONS  # imported when used: it pulls in the job specs

    kinds = OPTIONS[0].constraints["choices"]
    parser = _Parser(prog="%%fedsubmit", usage=_usage(OPTIONS), description=(
        "Send the cell body to run as a job on a member cluster and show its live status. "
        f"KIND is one of {', '.join(kinds)}."))
    parser.add_argument("kind", metavar="KIND")
    for opt in OPTIONS:
        if opt.flag:
            _add_option(parser, opt)
    parser.add_argument("--detach", action="store_true",
                        help="print the job id instead of showing the widget")
    parser.add_argument("--dry-run", action="store_true", dest="dry_run",
                        help="say where the job would go and why (queues included), creating nothing")
    return parser


def live_choices(schema: dict[str, Any] | None) -> str | None:
    """What the gateway's published schema adds to ``--help``: this federation's clusters, GPU types and
    the administrators' limits."""
    if not schema:
        return None
    clusters = ", ".join(["auto", *schema.get("clusters", [])])
    types = "; ".join(f"{g['name']} ({g['display']}: {', '.join(g['clusters'])})"
                      for g in schema.get("gpu_types", [])) or "none"
    limits = schema.get("limits") or {}
    caps = ", ".join(f"{flag} {limits[key]}" for flag, key in (
        ("--nodes", "nodes"), ("--executors", "executors"), ("--gpus N", "gpus_per_node"), ("--cpu", "cpu"),
        ("--memory", "memory")) if key in limits)
    capped = f" The administrators allow at most: {caps}." if caps else ""
    return f"On this hub --cluster takes {clusters}; --gpus TYPE is one of: {types}.{capped}"


def parse_submit(line: str, schema: Callable[[], dict[str, Any] | None] | None = None) -> SubmitArgs:
    """``pytorch -n ddp --nodes 2 --env A=1 B=2`` → ``SubmitArgs``.

    ``schema`` fetches the gateway's published option schema; it is asked only for
    ``--help``, to list the clusters and GPU types there are.
    """
    args = _split("%%fedsubmit", line)
    parser = _submit_parser()
    if schema is not None and {"-h", "--help"} & set(args):
        parser.epilog = live_choices(schema())
    ns = vars(parser.parse_args(args))
    kind, detach, dry_run = ns.pop("kind"), ns.pop("detach"), ns.pop("dry_run")
    for key in ("env", "conf"):
        if ns[key] is not None:
            ns[key] = dict(ns[key])
    return SubmitArgs(kind, {key: value for key, value in ns.items() if value is not None}, detach, dry_run)


# --- %fedjobs, %fedlogs, %fedcancel, %fedattach --------------------------------------------------

@dataclass(frozen=True)
class JobsArgs:
    all: bool = False
    state: str | None = None


def parse_jobs(line: str) -> JobsArgs:
    """``%fedjobs [--all] [--state STATE]``."""
    from fedspawner.jobs.vocabulary import JOB_STATES

    parser = _Parser(prog="%fedjobs", description="List your jobs on every member cluster, newest first.")
    parser.add_argument("--all", action="store_true", help="everyone's jobs (admins)")
    parser.add_argument("--state", choices=JOB_STATES, help="only jobs in this state")
    ns = parser.parse_args(_split("%fedjobs", line))
    return JobsArgs(ns.all, ns.state)


@dataclass(frozen=True)
class LogsArgs:
    job: str
    follow: bool = False
    rank: int = 0
    tail: int | None = None


def parse_logs(line: str) -> LogsArgs:
    """``%fedlogs JOB [-f] [--rank R] [--tail N]``."""
    parser = _Parser(prog="%fedlogs", description="Print a rank's log (for Spark, rank 0 is the driver). "
                                                  "With -f, keep printing new lines; interrupt the cell to "
                                                  "stop (the job keeps running).")
    parser.add_argument("job", metavar="JOB", help="job id or name")
    parser.add_argument("-f", "--follow", action="store_true")
    _add_count(parser, "--rank", 0, "which rank (default 0)", metavar="R", default=0)
    _add_count(parser, "--tail", 1, "only the last N lines")
    ns = parser.parse_args(_split("%fedlogs", line))
    return LogsArgs(ns.job, ns.follow, ns.rank, ns.tail)


def parse_job_ref(prog: str, line: str, what: str) -> str:
    """The single JOB argument of ``%fedcancel`` and ``%fedattach``."""
    parser = _Parser(prog=prog, description=what)
    parser.add_argument("job", metavar="JOB", help="job id or name")
    return parser.parse_args(_split(prog, line)).job
