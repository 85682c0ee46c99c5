"""The test session's background builds (tests/background_builds.py): each says how it ended."""

from __future__ import annotations

import re
import time
import tomllib
from pathlib import Path

from tests.background_builds import DEFERRED, BackgroundBuild, BuildQueue

REPO = Path(__file__).resolve().parents[2]


def _finish(build: BackgroundBuild) -> str:
    build.start()
    while build.poll() is None:
        time.sleep(0.05)
    return build.summary()


def test_a_finished_build_says_how_long_it_took(tmp_path):
    assert _finish(BackgroundBuild("kwok", "pass", tmp_path / "log")).startswith("the background kwok build took ")


def test_a_failed_build_points_at_its_log(tmp_path):
    line = _finish(BackgroundBuild("kwok", "raise SystemExit(3)", tmp_path / "log"))
    assert "failed after" in line and str(tmp_path / "log") in line


def test_a_build_still_running_at_the_end_is_stopped_and_said_so(tmp_path):
    build = BackgroundBuild("Kueue", "import time; time.sleep(60)", tmp_path / "log")
    build.start()
    build.stop()
    assert build.proc.poll() is not None
    assert build.summary() == "the background Kueue build was still running at the end and was stopped"


def test_no_build_no_line(tmp_path):
    assert BackgroundBuild("helm", "pass", tmp_path / "log").summary() is None


def test_each_deferred_build_has_a_registered_marker_that_tests_use():
    markers = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["markers"]
    registered = {line.split(":")[0] for line in markers}
    sources = "\n".join(p.read_text() for p in (REPO / "tests" / "integration").glob("test_*.py"))
    for deferred in DEFERRED:
        assert deferred.marker in registered
        assert f"pytest.mark.{deferred.marker}" in sources, deferred.marker


def test_the_time_said_is_the_builds_own_not_the_sessions(tmp_path):
    build = BackgroundBuild("helm", "pass", tmp_path / "log")
    build.start()
    build.proc.wait()
    ended = time.monotonic() - build.started
    time.sleep(2.0)  # the session goes on after the build ended
    took = re.fullmatch(r"the background helm build took (\d+)s \(log: .*\)", build.summary())
    assert took and int(took.group(1)) <= ended + 0.5


def test_queued_builds_run_one_after_another_on_one_core(tmp_path):
    code = ("import os, time; print(os.environ['GOMAXPROCS'], time.time(), flush=True); time.sleep(0.3); "
            "print(time.time())")
    builds = [BackgroundBuild(name, code, tmp_path / f"{name}.log") for name in ("kwok", "helm")]
    queue = BuildQueue(builds)
    queue.start()
    deadline = time.monotonic() + 30
    while (builds[-1].proc is None or builds[-1].poll() is None) and time.monotonic() < deadline:
        time.sleep(0.05)
    (first_cores, _, first_end), (second_cores, second_start, _) = (
        [float(x) for x in (tmp_path / f"{name}.log").read_text().split()] for name in ("kwok", "helm"))
    assert first_cores == second_cores == 1 and second_start >= first_end


def test_stopping_the_queue_stops_the_running_build_and_starts_no_other(tmp_path):
    builds = [BackgroundBuild(name, "import time; time.sleep(60)", tmp_path / f"{name}.log") for name in ("a", "b")]
    queue = BuildQueue(builds)
    queue.start()
    while builds[0].proc is None:
        time.sleep(0.05)
    queue.stop()
    time.sleep(0.3)
    assert builds[0].poll() is not None and builds[1].proc is None
