"""Start, find and stop the sandbox's processes.

Processes are started detached (own session) so they outlive the command that started
them. Each carries ``FEDSANDBOX_STATE=<state dir>`` in its environment, and so does
every pod process the node agent starts: ``down`` can therefore find and stop
everything that belongs to a sandbox even if a pid file is stale.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ..digits import whole_number

MARKER = "FEDSANDBOX_STATE"


@dataclass(frozen=True)
class ProcessRecord:
    """A process the sandbox started: enough to find it again and to tell pid reuse."""

    cluster: str
    component: str
    pid: int
    exe: str
    log: str

    def to_json(self) -> dict:
        return asdict(self)


def start(cluster: str, component: str, argv: list[str], log: Path, state_dir: Path,
          env: dict[str, str] | None = None) -> ProcessRecord:
    """Start ``argv`` detached with output to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    full_env = dict(os.environ if env is None else env)
    full_env[MARKER] = str(state_dir)
    with open(log, "ab") as out, open(os.devnull, "rb") as devnull:
        proc = subprocess.Popen(argv, stdin=devnull, stdout=out, stderr=subprocess.STDOUT,
                                env=full_env, start_new_session=True, cwd=state_dir)
    return ProcessRecord(cluster=cluster, component=component, pid=proc.pid, exe=argv[0], log=str(log))


def is_running(pid: int, exe: str | None = None) -> bool:
    """True if ``pid`` is alive (not a zombie) and, if given, runs ``exe``."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
        if exe is not None:
            argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0", 1)[0].decode(errors="replace")
            return argv0 == exe
        return True
    except (FileNotFoundError, ProcessLookupError, IndexError, PermissionError):
        return False


def marked_processes(state_dir: Path) -> list[int]:
    """Pids of every live process whose environment names this state directory."""
    needle = f"{MARKER}={state_dir}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        pid = whole_number(entry.name)
        if pid is None or pid == os.getpid():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0") and is_running(pid):
                found.append(pid)
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return found


def stop(pids: list[int], timeout: float = 10.0) -> list[int]:
    """SIGTERM each pid, wait up to ``timeout``, then SIGKILL what is left.

    Returns the pids that were still running when asked to stop.
    """
    running = [p for p in pids if is_running(p)]
    for pid in running:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(is_running(p) for p in running):
        time.sleep(0.05)
    for pid in running:
        if is_running(pid):
            _signal(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(is_running(p) for p in running):
        time.sleep(0.05)
    return running


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def log_tail(path: str | Path, lines: int = 15) -> str:
    try:
        text = Path(path).read_text(errors="replace")
    except FileNotFoundError:
        return "(no log written)"
    return "\n".join(text.strip().splitlines()[-lines:])
