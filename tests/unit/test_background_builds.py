"""The test session's background build (tests/background_builds.py): it reports how it ended."""

from __future__ import annotations

import time

from tests.background_builds import KueueBuild


def _finish(build: KueueBuild) -> str:
    build.start()
    while build.poll() is None:
        time.sleep(0.05)
    return build.summary()


def test_a_finished_build_says_how_long_it_took(tmp_path):
    assert _finish(KueueBuild("pass", tmp_path / "log")).startswith("the background Kueue build took ")


def test_a_failed_build_points_at_its_log(tmp_path):
    assert "failed after" in _finish(KueueBuild("raise SystemExit(3)", tmp_path / "log"))


def test_a_build_still_running_at_the_end_is_stopped_and_said_so(tmp_path):
    build = KueueBuild("import time; time.sleep(60)", tmp_path / "log")
    build.start()
    build.stop()
    assert build.proc.poll() is not None
    assert build.summary() == "the background Kueue build was still running at the end and was stopped"


def test_no_build_no_line():
    assert KueueBuild().summary() is None
