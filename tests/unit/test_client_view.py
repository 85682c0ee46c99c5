"""The status widget's rendering from Job dicts (``view`` functions and ``JobWidget`` traits)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from fedspawner.client import view
from fedspawner.client.output import jobs_table
from fedspawner.client.widget import JobWidget
from tests.unit.client_stub import make_job, pods

NOW = datetime(2025, 1, 1, 1, 2, 5, tzinfo=timezone.utc)


class NoGateway:
    """Widgets under test never follow; anything that reaches for the network fails the test."""

    def __getattr__(self, name):
        raise AssertionError(f"the widget called the gateway's {name}")


def widget(**fields) -> JobWidget:
    return JobWidget(make_job(**fields), NoGateway())


def test_elapsed_and_duration():
    job = make_job(started="2025-01-01T01:00:00Z")
    assert view.elapsed_seconds(job, NOW) == 125
    assert view.format_duration(125) == "2:05" and view.format_duration(3725) == "1:02:05"
    assert view.format_duration(None) == "—"
    # pending: counted from creation; finished: frozen at the end
    assert view.elapsed_seconds(make_job(created="2025-01-01T01:02:00+00:00"), NOW) == 5
    assert view.elapsed_seconds(make_job(started="2025-01-01T01:00:00Z", finished="2025-01-01T01:00:30Z"),
                                NOW) == 30
    assert view.elapsed_seconds(make_job(created=None)) is None
    assert view.elapsed_seconds(make_job(created="not a time")) is None


def test_gpu_summary():
    assert view.gpu_summary(make_job()) == "CPU only"
    a100s = make_job(gpus_per_node=4, gpu_type="nvidia-a100-40gb")
    assert view.gpu_summary(a100s) == "2 × 4 nvidia-a100-40gb"
    assert view.gpu_summary(make_job(gpus_per_node=1, nodes=1)) == "1 × 1 GPU"


def test_rank_rows_sorted_driver_first():
    job = make_job(kind="spark", pods=[
        {"name": "e-2", "rank": 2, "role": "executor", "phase": "Running", "node": "n2"},
        {"name": "drv", "rank": 0, "role": "driver", "phase": "Running", "node": "n1", "restarts": 1},
        {"name": "e-1", "rank": 1, "role": "executor", "phase": "Pending", "node": None,
         "reason": "Unschedulable"},
        "garbage"])
    rows = view.rank_rows(job)
    assert [row["name"] for row in rows] == ["drv", "e-1", "e-2"]
    assert rows[0] == {"rank": 0, "role": "driver", "name": "drv", "phase": "Running", "node": "n1",
                       "restarts": 1, "ready": False, "reason": None}
    table = view.ranks_html(rows)
    assert table.count("<tr>") == 4 and "Unschedulable" in table and "—" in table
    assert view.ranks_html([]) == ""


def test_progress_view():
    assert view.progress_view(None) is None
    assert view.progress_view({"total": 10}) is None
    assert view.progress_view({"step": 30, "total": 100, "metrics": {"loss": 0.123456, "acc": 0.9}}) == \
        (30, 100, "step 30/100 · loss 0.1235 · acc 0.9")
    assert view.progress_view({"step": 7}) == (0, 0, "step 7")
    assert view.progress_view({"step": 120, "total": 100})[0] == 100


def test_everything_user_controlled_is_escaped():
    job = make_job(name="<script>x</script>", message="a <b>bold</b> claim", history=["<i>moved</i>"])
    assert "<script>" not in view.header_html(job)
    assert "<b>bold</b>" not in view.message_html(job) and "&lt;i&gt;moved" in view.message_html(job)
    assert "&lt;img" in view.log_html(["<img src=x>"], "rank 0")
    assert view.log_html([], "rank 0") == ""


def test_widget_traits_follow_the_job_dict():
    w = widget(phase="Running", started="2025-01-01T00:00:00Z", gpu_type="nvidia-l4", gpus_per_node=1,
               pods=pods("Running", "Pending"), message="waiting for rank 1",
               progress={"step": 5, "total": 50, "metrics": {"loss": 1.5}})
    assert (w.job_id, w.name, w.kind, w.cluster, w.gpu_type, w.phase) == \
        ("j-abcdefgh", "ddp", "pytorch", "onprem", "nvidia-l4", "Running")
    assert [row["phase"] for row in w.ranks] == ["Running", "Pending"]
    assert w.progress["step"] == 5 and w.elapsed > 0 and w.message == "waiting for rank 1"
    assert w._bar.value == 5 and w._bar.max == 50 and w._progress.layout.display == ""
    assert "loss 1.5" in w._bar_label.value
    assert "ddp-1" not in w._header.value and "nvidia-l4" in w._header.value
    assert "waiting for rank 1" in w._message.value and w._ranks.value.count("<tr>") == 3
    assert w.phase_history == ["Running"] and not w.cancel_button.disabled and w.ui_url is None


def test_widget_spark_ui_link_and_finished_state():
    w = widget(kind="spark", phase="Succeeded", ui_url="http://127.0.0.1:4040/",
               finished="2025-01-01T00:10:00Z", started="2025-01-01T00:00:00Z")
    assert w.ui_url == "http://127.0.0.1:4040/" and 'href="http://127.0.0.1:4040/"' in w._ui_link.value
    assert w.cancel_button.disabled and w.elapsed == 600
    assert w._progress.layout.display == "none"


def test_widget_log_tail_is_bounded():
    w = JobWidget(make_job(), NoGateway(), tail_lines=3)
    w.add_log_lines([f"line {i}" for i in range(10)])
    w.flush()
    assert w.log_tail == "line 7\nline 8\nline 9"
    assert "rank 0 log (last 3 lines)" in w._logs.value
    w.reset_log()
    w.add_log_lines(["fresh", 'FEDSPAWNER_PROGRESS {"step": 1, "total": 2}'])
    w.flush()
    assert w.log_tail == "fresh"


def test_widget_names_the_log_by_the_jobs_leader_not_its_kind():
    w = JobWidget(make_job(kind="jax", leader="driver"), NoGateway(), tail_lines=3)
    w.add_log_lines(["x"])
    w.flush()
    assert "driver log (last 3 lines)" in w._logs.value


@pytest.mark.parametrize("owner", [False, True])
def test_jobs_table(owner):
    jobs = [make_job(phase="Running"), make_job("j-bbbbbbbb", name="etl", kind="spark", cluster=None)]
    html, text = jobs_table(jobs, owner=owner)
    assert html.count("<tr>") == 3 and "j-bbbbbbbb" in html
    lines = text.splitlines()
    assert len(lines) == 3 and lines[0].split()[:2] == (["owner", "id"] if owner else ["id", "name"])
    assert "etl" in lines[2] and "—" in lines[2]
    assert jobs_table([]) == ("<i>No jobs.</i>", "No jobs.")
