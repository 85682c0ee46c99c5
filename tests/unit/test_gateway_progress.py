"""The progress helper jobs import, and the gateway's reading of its lines (pure)."""

from __future__ import annotations

import json
import subprocess
import sys

from fedspawner.gateway.progress import last_progress, parse_line
from fedspawner.jobs import fedspawner_progress
from fedspawner.jobs.render.common import progress_helper_source


class Tensor:
    """Stands in for a torch scalar tensor: converts with float()."""

    def __float__(self) -> float:
        return 0.25


def test_progress_prints_one_flushed_marker_line(capsys):
    fedspawner_progress.progress(10, 100, loss=Tensor(), acc=0.5, note="warm-up", nan=float("nan"))
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith("FEDSPAWNER_PROGRESS {")
    record = json.loads(out.split(" ", 1)[1])
    assert record["step"] == 10 and record["total"] == 100
    assert record["metrics"] == {"loss": 0.25, "acc": 0.5, "note": "warm-up", "nan": "nan"}
    assert isinstance(record["time"], float)


def test_the_helper_runs_in_a_bare_interpreter(tmp_path):
    (tmp_path / "fedspawner_progress.py").write_text(progress_helper_source())
    script = "from fedspawner_progress import progress; progress(3, None, loss=1)"
    out = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(tmp_path)!r}); "
                          + script], capture_output=True, text=True, check=True).stdout
    assert parse_line(out)["step"] == 3 and parse_line(out)["total"] is None


def test_parse_line_reads_prefixed_lines_and_skips_junk():
    line = '[rank0]: FEDSPAWNER_PROGRESS {"step": 2, "total": 5, "metrics": {"loss": 1.5}, "time": 0}'
    assert parse_line(line) == {"step": 2, "total": 5, "metrics": {"loss": 1.5},
                                "time": "1970-01-01T00:00:00.000000Z"}
    for junk in ("FEDSPAWNER_PROGRESS {oops", "FEDSPAWNER_PROGRESS []", 'FEDSPAWNER_PROGRESS {"step": "x"}',
                 "nothing here"):
        assert parse_line(junk) is None


def test_last_progress_takes_the_last_valid_line():
    text = "\n".join(['FEDSPAWNER_PROGRESS {"step": 1}', "training...", 'FEDSPAWNER_PROGRESS {"step": 2}',
                      "FEDSPAWNER_PROGRESS {broken"])
    assert last_progress(text)["step"] == 2
    assert last_progress("no progress at all") is None
