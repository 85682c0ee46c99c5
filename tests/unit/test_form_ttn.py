"""The launch form's time-to-notebook list (rendered on the server from the spawner's estimates)."""

from fedspawner.federation.predict import Prediction, StartHistory
from fedspawner.spawner import form, ttn
from fedspawner.spawner.availability import availability

from .test_form import ALICE, PROFILES, initialised, parse, snapshot


def test_rows_show_each_clusters_estimate():
    h = StartHistory()
    h.record("onprem", None, "img", 3.0, False)
    h.record("onprem", None, "img", 2.0, True)
    preds = {"onprem": h.predict("onprem", None, "img"), "burst": h.predict("burst", None, "img")}
    rows = ttn.form_rows(preds, {"onprem": "Campus HPC"})
    assert rows == [{"name": "onprem", "display_name": "Campus HPC",
                     "label": "~2.0 s to notebook (median of 1 recent starts, image already there)"},
                    {"name": "burst", "display_name": "burst", "label": "no recent starts here"}]


def test_rows_count_warm_slots():
    preds = {"onprem": Prediction(None, "no recent starts here"), "burst": Prediction(None, "no recent starts here")}
    warm = {"onprem": {"nvidia-a100-40gb": {"warm": 2, "pending": 1}, "nvidia-l4": {"warm": 0, "pending": 1}}}
    rows = ttn.form_rows(preds, {}, warm, {"nvidia-a100-40gb": "NVIDIA A100 40GB"})
    assert rows[0]["label"] == "no recent starts here · 2 warm NVIDIA A100 40GB"
    assert rows[1]["label"] == "no recent starts here"


def test_form_lists_the_estimates():
    payload = availability(snapshot(), ALICE)
    rows = ttn.form_rows({"onprem": Prediction(4.0, "median of 2 recent starts, image already there")},
                         {"onprem": "Campus HPC"})
    dom = parse(form.render_form_html(initialised(PROFILES), payload, {}, "/hub/", rows))
    box = dom.by_id("fs-time-to-notebook")
    (item,) = box.find_all("li")
    assert item.attrs["data-cluster"] == "onprem"
    assert item.text() == "Campus HPC: ~4.0 s to notebook (median of 2 recent starts, image already there)"


def test_form_without_estimates_has_no_list():
    payload = availability(snapshot(), ALICE)
    dom = parse(form.render_form_html(initialised(PROFILES), payload, {}, "/hub/"))
    assert dom.by_id("fs-time-to-notebook") is None
