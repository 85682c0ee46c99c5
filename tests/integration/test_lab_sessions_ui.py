"""The Lab panel's Spark sessions, in Debian Chromium against a real Lab spawned by the real hub.

A session started through the gateway (as ``%fedspark start`` does) shows in the panel with its
cluster, executors, phase, age and idle time; once Ready its Spark UI link opens the driver's UI
in the browser (signed in to the gateway through the hub's OAuth, no token in the page); Stop
removes it from the panel, and nothing of it is left on the cluster (checked with admin rights).
"""

from __future__ import annotations

import asyncio

import pytest

from fedspawner.client.gateway import Gateway as ClientGateway
from fedspawner.client.spark_session import call

from .test_lab_ui_support import *  # noqa: F401,F403 - the fixtures
from .test_lab_ui_support import LONG
from .test_launch_form import SHOTS
from .test_spark_sessions import objects_gone, session_objects

pytestmark = pytest.mark.sandbox


async def test_a_session_shows_in_the_panel_opens_its_spark_ui_and_stops(ada_lab, admin_api, sandbox):
    lab, page = ada_lab, ada_lab.page
    gateway = ClientGateway(f"{lab.hub.url}/services/fedspawner-gateway/", lab.token)
    body = {"cluster": "regional", "executors": 1, "cpu": "1", "memory": "2Gi"}
    made = await asyncio.to_thread(call, gateway, "POST", "sessions", body)
    session_id = made["session"]["id"]
    row = f'#fedspawner-panel tr[data-session="{session_id}"]'
    try:
        await lab.open()
        await lab.wait(row)
        cells = await page.locator(f"{row} td").all_inner_texts()
        assert cells[:3] == [made["session"]["name"], "regional", "1"], cells
        assert cells[3] in ("Starting", "Ready") and cells[4].endswith("s"), cells
        assert await page.is_visible(f"{row} .fs-SessionStop")
        await lab.wait(f"{row} .fs-SessionUi", timeout=LONG)  # the link comes once the driver answers
        assert (await page.locator(f"{row} td").all_inner_texts())[3] == "Ready"
        await lab.shot("sessions-01-ready")
        href = await page.get_attribute(f"{row} .fs-SessionUi", "href")
        assert href == f"/services/fedspawner-gateway/api/v1/sessions/{session_id}/ui/", href

        ui = await lab.context.new_page()  # the link's new tab: the hub's OAuth, then the driver's UI
        try:
            await ui.goto(lab.hub.url + href)
            await ui.wait_for_selector("text=Spark Jobs", timeout=60_000)
            assert ui.url.startswith(lab.hub.url + href), ui.url
            await ui.screenshot(path=str(SHOTS / "lab-sessions-02-spark-ui.png"))
        finally:
            await ui.close()

        await page.click(f"{row} .fs-SessionStop")
        await lab.wait(row, state="detached")
        assert await page.is_hidden("#fedspawner-panel .fs-SessionsSection")
        assert await objects_gone(admin_api, "regional", sandbox.namespace, session_id) == []
    finally:
        if await session_objects(admin_api, "regional", sandbox.namespace, session_id):
            await asyncio.to_thread(call, gateway, "DELETE", f"sessions/{session_id}")
