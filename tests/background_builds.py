"""Builds the tests need late, started in the background while earlier tests run.

Kueue is the largest operator build (minutes on a cold cache) and only the modules marked
``kueue`` run it, so ``make test``'s set-up leaves it out: when such modules are collected and
Kueue is not built yet, this plug-in starts its build (niced, as every operator build) as the
session starts and moves those modules to the end of the run. Their sandboxes ask for the same
build, which waits on the build's lock and then finds the binary. The build's output goes to
``$FEDSPAWNER_TEST_SANDBOX_DIR-builds/kueue.log``; how long it took is printed at the end.
Loaded as a plug-in by ``tests/conftest.py``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fedspawner.sandbox.operator_catalog import OPERATORS
from fedspawner.sandbox.operators.build import build_dir

from .integration.sandbox_fixtures import TEST_STATE_DIR

MARKER = "kueue"
LOG = TEST_STATE_DIR.with_name(TEST_STATE_DIR.name + "-builds") / "kueue.log"
BUILD = "from fedspawner.sandbox.operators.build import ensure_operators; ensure_operators(['kueue'])"


class KueueBuild:
    """The background build, if one was started."""

    def __init__(self, code: str = BUILD, log: Path = LOG) -> None:
        self.code, self.log = code, log
        self.proc: subprocess.Popen | None = None
        self.started = 0.0
        self.finished: float | None = None
        self.stopped = False

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen([sys.executable, "-c", self.code], stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        self.started = time.monotonic()

    def poll(self) -> int | None:
        if self.proc is None:
            return None
        code = self.proc.poll()
        if code is not None and self.finished is None:
            self.finished = time.monotonic()
        return code

    def stop(self) -> None:
        """Ends a build still running when the session ends (an interrupted run): nothing half-built
        is left, the build renames its results into place only when complete."""
        if self.proc is not None and self.poll() is None:
            self.stopped = True
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=30)

    def summary(self) -> str | None:
        code = self.poll()
        if self.proc is None:
            return None
        if code is None or self.stopped:
            return "the background Kueue build was still running at the end and was stopped"
        seconds = self.finished - self.started
        if code == 0:
            return f"the background Kueue build took {seconds:.0f}s (log: {self.log})"
        return f"the background Kueue build failed after {seconds:.0f}s; see {self.log}"


_build = KueueBuild()


def _kueue_built() -> bool:
    op = OPERATORS["kueue"]
    return (build_dir(op.build_group) / op.binary).exists()


@pytest.hookimpl(trylast=True)  # after -k and -m have deselected
def pytest_collection_modifyitems(session, config, items) -> None:
    needing = [item for item in items if item.get_closest_marker(MARKER)]
    if not needing:
        return
    # a stable sort: everything else keeps its order, the Kueue modules keep theirs, last
    items[:] = [item for item in items if not item.get_closest_marker(MARKER)] + needing
    if not _kueue_built() and not config.getoption("collectonly"):
        _build.start()


def pytest_sessionfinish(session, exitstatus) -> None:
    _build.stop()


def pytest_terminal_summary(terminalreporter) -> None:
    line = _build.summary()
    if line:
        terminalreporter.write_line(line)
