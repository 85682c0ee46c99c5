"""``%fedspark start|stop|status|attach``: an interactive Spark session from a notebook.

``start`` places a Spark Connect session on a member cluster (``spark_session.spark_session``)
and binds ``spark`` in the notebook to it (``start --restart`` first stops this kernel's session, or
your one that failed, and starts its like wherever it fits now); ``attach`` reconnects to one of
your sessions (after a kernel restart); ``status`` lists your sessions; ``stop`` deletes one (this
kernel's by default). A query that fails because its session cannot be reached (its cluster stopped
answering, its driver is gone) shows one message saying so instead of the Spark client's traceback.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

from . import spark_session as sessions
from .args import _count, _key_value, _Parser, _split
from .errors import ArgumentsError
from .gateway import Gateway
from .output import show_error, show_notice
from .spark_progress import show_with_ui_link

__all__ = ["SparkArgs", "parse_fedspark", "run_fedspark"]

ACTIONS = ("start", "stop", "status", "attach")


@dataclass(frozen=True)
class SparkArgs:
    """``%fedspark``'s arguments: the action and its options."""

    action: str
    options: dict[str, Any] = field(default_factory=dict)
    session: str | None = None
    keep: bool = False
    restart: bool = False


def _parser() -> _Parser:
    parser = _Parser(prog="%fedspark", add_help=True, description=(
        "An interactive Spark session on a member cluster: start, stop, status, attach."))
    parser.add_argument("action", choices=ACTIONS, help="what to do")
    parser.add_argument("session", nargs="?", help="stop/attach: a session id or name (default: this kernel's)")
    parser.add_argument("--cluster", help="auto (default) or a member cluster's name")
    parser.add_argument("--executors", type=_count("--executors", 1), metavar="N", help="executor pods")
    parser.add_argument("--cpu", help="CPU per pod (e.g. 2)")
    parser.add_argument("--memory", help="memory per pod (e.g. 4Gi)")
    parser.add_argument("--gpus", metavar="TYPE:N", help="GPUs per executor (e.g. L4:1), placed as for jobs")
    parser.add_argument("--image", help="a Spark image with the Connect server (Spark ≥ 3.5)")
    parser.add_argument("--name", help="the session's name")
    parser.add_argument("--conf", nargs="+", action="extend", type=_key_value("--conf"), metavar="K=V",
                        help="Spark settings (the allow-list of Spark jobs applies)")
    parser.add_argument("--keep", action="store_true",
                        help="start: keep the session when the kernel exits (attach to it later)")
    parser.add_argument("--restart", nargs="?", const=True, metavar="SESSION",
                        help="start: stop this kernel's session (or SESSION, or your one that failed) and start "
                             "its like where it fits now")
    return parser


def parse_fedspark(line: str) -> SparkArgs:
    """Read ``%fedspark``'s command line (``ArgumentsError`` naming what is wrong)."""
    args = _parser().parse_args(_split("%fedspark", line))
    options = {key: getattr(args, key) for key in ("cluster", "executors", "cpu", "memory", "gpus", "image", "name")
               if getattr(args, key) is not None}
    if args.conf:
        options["conf"] = dict(args.conf)
    if args.action != "start" and (options or args.keep or args.restart):
        raise ArgumentsError(f"%fedspark {args.action} takes no options (only start does); "
                             f"you gave {', '.join(sorted(options)) or ('--keep' if args.keep else '--restart')}.")
    if args.session and (args.action == "status" or (args.action == "start" and not args.restart)):
        raise ArgumentsError(f"%fedspark {args.action} takes no session; `%fedspark stop {args.session}` or "
                             f"`%fedspark attach {args.session}` act on one.")
    session = args.restart if isinstance(args.restart, str) else args.session
    return SparkArgs(args.action, options, session, args.keep, bool(args.restart))


def run_fedspark(shell: Any, line: str) -> Any:
    """Carry out ``%fedspark``; binds ``spark`` in the notebook on start and attach."""
    args = parse_fedspark(line)
    if args.action == "start":
        start = sessions.restart if args.restart else sessions.spark_session
        extra = {"session_id": args.session} if args.restart else {}
        shell.user_ns["spark"] = start(**args.options, **extra, stop_with_kernel=not args.keep, narrate=show_notice)
        explain_unreachable_sessions(shell)
        return None
    if args.action == "attach":
        shell.user_ns["spark"] = sessions.attach(args.session, narrate=show_notice)
        explain_unreachable_sessions(shell)
        return None
    if args.action == "status":
        listed = sessions.call(Gateway(), "GET", "sessions")["sessions"]
        if not listed:
            show_notice("You have no Spark sessions; `%fedspark start` starts one.")
        for view in listed:
            idle = f", idle {view['idle_seconds']:.0f}s" if view.get("idle_seconds") is not None else ""
            show_with_ui_link(f"{view['id']} ({view['name']}) on {view['cluster']}: {view['phase']}, "
                              f"{view['executors']} executor(s), created {view['created']}{idle}.", view.get("ui_url"))
        return None
    current = sessions.current()
    if args.session is None and current is not None:
        view = current.stop()
    else:
        if args.session is None:
            raise ArgumentsError("This kernel has no session; name the one to stop (`%fedspark status` lists "
                                 "yours).")
        gateway = Gateway()
        mine = sessions.call(gateway, "GET", "sessions")["sessions"]
        ids = [s["id"] for s in mine if args.session in (s["id"], s["name"])]
        if not ids:
            raise ArgumentsError(f"You have no session {args.session!r}; `%fedspark status` lists yours.")
        view = sessions.call(gateway, "DELETE", f"sessions/{ids[0]}")["session"]
    show_notice(f"Stopped {view['id']} on {view['cluster']}: every object of it is deleted.")
    return None


def explain_unreachable_sessions(shell: Any) -> None:
    """Make a query that fails because this kernel's session cannot be reached show one message (from
    ``FedSparkSession.failure``) instead of the Spark client's traceback; other errors show as before."""
    try:
        from pyspark.errors import PySparkException
    except ImportError:
        return
    warnings.filterwarnings("ignore", message=r"\[RETRIES_EXCEEDED\]")  # the message below says it once

    def handler(shell: Any, etype: type, value: BaseException, tb: Any, tb_offset: int | None = None) -> None:
        session = sessions.current()
        message = session.failure(value) if session is not None else None
        if message is None:
            shell.showtraceback((etype, value, tb), tb_offset=tb_offset)
        else:
            show_error(message)
    shell.set_custom_exc((PySparkException,), handler)
