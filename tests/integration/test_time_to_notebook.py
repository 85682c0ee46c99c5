"""Time-to-notebook in the launch form of a real hub: estimates from real starts, after a restart too."""

from __future__ import annotations

import re
import time

import pytest

from .spawn_helpers import spawn, stop
from .test_launch_form import browser, login, open_form  # noqa: F401 - fixture
from .test_spawner import api, clean_user  # noqa: F401 - fixtures

pytestmark = pytest.mark.sandbox


async def estimate(browser, hub, cluster: str) -> str:  # noqa: F811
    context, page = await login(browser, hub, "alice")
    try:
        await open_form(page, hub)
        return await page.text_content(f"#fs-time-to-notebook li[data-cluster={cluster}]")
    finally:
        await context.close()


def seconds_of(text: str) -> float:
    match = re.search(r"~([\d.]+) s to notebook", text)
    assert match, text
    return float(match.group(1))


async def test_estimate_follows_real_starts_and_survives_a_restart(browser, hub, api, clean_user):  # noqa: F811
    actual = []
    for i in range(3):
        started = time.monotonic()
        model = spawn(api, clean_user, {"profile": "cpu", "cluster": "burst"}, server=f"t{i}")
        assert model.get("ready"), model
        actual.append(time.monotonic() - started)
    text = await estimate(browser, hub, "burst")
    predicted = seconds_of(text)
    assert "recent starts" in text and "image already there" in text, text
    # The REST round trip adds the hub's own overhead; the estimate is the cluster part.
    assert 0 < predicted <= max(actual), (predicted, actual)
    print(f"time-to-notebook on burst: predicted {predicted} s, actual starts {[round(a, 2) for a in actual]}")

    hub.stop()
    hub.start()
    after = await estimate(browser, hub, "burst")
    assert "recent starts" in after, after  # recovered from the pods' timestamps
    for i in range(3):
        stop(api, clean_user, f"t{i}")
