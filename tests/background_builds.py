"""Builds only a few tests need, run in the background while the other tests run.

``make test``'s set-up builds what the default sandbox runs. Kueue (the largest operator build),
kwok (simulated nodes) and helm (the chart tests) are needed only by the modules marked
``kueue``, ``kwok`` and ``helm``: when such modules are collected and their build is not cached
yet, this plug-in builds it while the other tests run, and moves those modules to the end of the
run. The builds run one after another, on one core and niced, so the running tests keep the
machine (three Go builds at once slowed a timing-sensitive test into failing). The modules' own
code asks for the same build, which waits on the build's lock and then finds it done. Each
build's output goes to ``$FEDSPAWNER_TEST_SANDBOX_DIR-builds/<marker>.log``; how long each took
is printed at the end. Loaded as a plug-in by ``tests/conftest.py``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from fedspawner.deploy.helm import helm_path
from fedspawner.sandbox.binaries import kwok_path
from fedspawner.sandbox.operator_catalog import OPERATORS
from fedspawner.sandbox.operators.build import build_dir

from .integration.sandbox_fixtures import TEST_STATE_DIR

LOGS = TEST_STATE_DIR.with_name(TEST_STATE_DIR.name + "-builds")
#: Below the tests' priority; the operator builds add their own nice level to it.
NICE = 10
#: One core: the go command compiles one package at a time.
ENV = dict(os.environ, GOMAXPROCS="1")


def _kueue_path() -> Path:
    op = OPERATORS["kueue"]
    return build_dir(op.build_group) / op.binary


@dataclass(frozen=True)
class Deferred:
    """A build the modules marked ``marker`` need: ``code`` (Python) builds ``path()``."""

    marker: str
    what: str
    path: Callable[[], Path]
    code: str


DEFERRED = (
    Deferred("kwok", "kwok", kwok_path,
             "from fedspawner.sandbox.binaries import ensure_kwok; ensure_kwok()"),
    Deferred("helm", "helm", helm_path,
             "from fedspawner.deploy.helm import ensure_helm; ensure_helm()"),
    Deferred("kueue", "Kueue", _kueue_path,
             "from fedspawner.sandbox.operators.build import ensure_operators; ensure_operators(['kueue'])"),
)


class BackgroundBuild:
    """One build run as a child process, and how it ended."""

    def __init__(self, what: str, code: str, log: Path) -> None:
        self.what, self.code, self.log = what, code, log
        self.proc: subprocess.Popen | None = None
        self.started = 0.0
        self.finished: float | None = None
        self.stopped = False

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(["nice", "-n", str(NICE), sys.executable, "-c", self.code], stdout=log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=ENV,
                                         start_new_session=True)
        self.started = time.monotonic()
        threading.Thread(target=self._note_the_end, daemon=True).start()

    def _note_the_end(self) -> None:
        self.proc.wait()
        self.finished = time.monotonic()

    def poll(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def stop(self) -> None:
        """Ends a build still running when the session ends (an interrupted run): nothing half-built
        is left, the builds rename their results into place only when complete."""
        if self.proc is not None and self.poll() is None:
            self.stopped = True
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=30)

    def summary(self) -> str | None:
        code = self.poll()
        if self.proc is None:
            return None
        if code is None or self.stopped:
            return f"the background {self.what} build was still running at the end and was stopped"
        seconds = (self.finished or time.monotonic()) - self.started
        if code == 0:
            return f"the background {self.what} build took {seconds:.0f}s (log: {self.log})"
        return f"the background {self.what} build failed after {seconds:.0f}s; see {self.log}"


class BuildQueue:
    """Builds run one after another in a thread of their own."""

    def __init__(self, builds: list[BackgroundBuild]) -> None:
        self.builds = builds
        self._stopping = threading.Event()
        self._lock = threading.Lock()

    def start(self) -> None:
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        for build in self.builds:
            with self._lock:
                if self._stopping.is_set():
                    return
                build.start()
            build.proc.wait()

    def stop(self) -> None:
        with self._lock:
            self._stopping.set()
        for build in self.builds:
            build.stop()


_queue = BuildQueue([])


def _needs(item) -> bool:
    return any(item.get_closest_marker(d.marker) for d in DEFERRED)


@pytest.hookimpl(trylast=True)  # after -k and -m have deselected
def pytest_collection_modifyitems(session, config, items) -> None:
    late = [item for item in items if _needs(item)]
    if not late:
        return
    # a stable sort: everything else keeps its order, the modules that wait for a build keep theirs, last
    items[:] = [item for item in items if not _needs(item)] + late
    if config.getoption("collectonly"):
        return
    _queue.builds = [BackgroundBuild(d.what, d.code, LOGS / f"{d.marker}.log") for d in DEFERRED
                     if not d.path().exists() and any(item.get_closest_marker(d.marker) for item in late)]
    _queue.start()


def pytest_sessionfinish(session, exitstatus) -> None:
    _queue.stop()


def pytest_terminal_summary(terminalreporter) -> None:
    for build in _queue.builds:
        line = build.summary()
        if line:
            terminalreporter.write_line(line)
