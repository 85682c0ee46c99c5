"""Live query progress under the cell and the Spark UI link, from a real kernel, through the real hub.

One session for the module (one JVM): ``%fedspark start`` in a kernel run by nbclient, a second
client on the same kernel watching what the frontend receives (iopub), a query with several
stages, and the session's Spark UI fetched through the hub's proxy and the gateway, by its
owner (200, the Spark UI's page, links under the gateway's path), another user (403) and a
browser that has not signed in yet (sent to the hub's OAuth).
"""

from __future__ import annotations

import asyncio
import json
import re

import aiohttp
import pytest

from fedspawner.client.gateway import Gateway as ClientGateway
from fedspawner.client.spark_session import call

from .hub_fixtures import TEST_HUB_PORT
from .sandbox_fixtures import api_client
from .test_client_notebook import Notebook, kernel_env  # noqa: F401 - kernel_env: a fixture
from .test_spark_sessions import objects_gone

pytestmark = pytest.mark.sandbox

HUB = f"http://127.0.0.1:{TEST_HUB_PORT}"
REPORT = "import json\ndef report(value):\n    print('RESULT ' + json.dumps(value))\n"
#: Several stages (16 tasks that sleep 0.3 s each on the one executor core, the shuffle, the sort): several
#: seconds, so several progress reports (every 0.5 s) come while it runs.
QUERY = """from pyspark.sql import functions as F
rows = (spark.range(0, 32, numPartitions=16)
        .selectExpr("id % 4 AS k", "reflect('java.lang.Thread', 'sleep', bigint(150)) AS slept")
        .groupBy("k").count().orderBy("k").collect())
report(len(rows))"""


@pytest.fixture(scope="module")
async def session(sandbox, kernel_env):  # noqa: F811 - kernel_env: the imported fixture
    """A notebook whose ``spark`` is a session on regional, and the session's view; stopped after the module."""
    gateway = ClientGateway(kernel_env["FEDSPAWNER_GATEWAY_URL"], kernel_env["JUPYTERHUB_API_TOKEN"])
    async with Notebook("spark-progress", kernel_env) as nb:
        await nb.run("%load_ext fedspawner\n" + REPORT)
        # As %fedspark start does, with room for a loaded machine's slow JVM start.
        told = await nb.run("from fedspawner.client.spark_session import spark_session\n"
                            "spark = spark_session('regional', 1, cpu='1', memory='2Gi', timeout=900)")
        assert "Ready after" in told, told
        session_id = next(word for word in told.split() if word.startswith("s-"))
        try:
            view = await asyncio.to_thread(lambda: call(gateway, "GET", f"sessions/{session_id}")["session"])
            yield nb, view
        finally:
            for left in await asyncio.to_thread(lambda: call(gateway, "GET", "sessions")["sessions"]):
                await asyncio.to_thread(call, gateway, "DELETE", f"sessions/{left['id']}")
            admin_api = lambda cluster: api_client(sandbox.kubeconfig, f"{cluster}-admin")  # noqa: E731
            assert await objects_gone(admin_api, "regional", sandbox.namespace, session_id) == []


async def watch_progress(nb: Notebook, source: str) -> tuple[str, list[dict]]:
    """Run a cell and collect the progress displays the frontend (nbclient) receives from it, in order: the
    text and HTML of each display and update. The cell's text output and those displays."""
    seen: list[dict] = []
    receive = nb.client.process_message

    def record(msg, cell, cell_index):
        data = msg["content"].get("data") or {}
        if msg["msg_type"] in ("display_data", "update_display_data") and \
                "fedspark-progress" in data.get("text/html", ""):
            seen.append({"type": msg["msg_type"], "text": data["text/plain"], "html": data["text/html"],
                         "id": msg["content"].get("transient", {}).get("display_id")})
        return receive(msg, cell, cell_index)
    nb.client.process_message = record
    try:
        text = await nb.run(source)
    finally:
        del nb.client.process_message
    return text, seen


async def test_a_query_shows_live_progress_under_its_cell_and_ends_with_a_summary(session):
    nb, view = session
    text, seen = await watch_progress(nb, QUERY)
    assert "RESULT 4" in text, text
    running = [s for s in seen if 'data-state="running"' in s["html"]]
    final = [s for s in seen if 'data-state="done"' in s["html"]]
    states = list(dict.fromkeys(s["text"].split(" · ")[1] for s in running))  # "tasks 3/16 (1 running)"
    print("progress states:", states, "final:", [s["text"] for s in final])
    assert len(states) >= 3, seen  # several distinct states during the query, not only the end
    done_counts = [int(re.search(r"tasks (\d+)/", s).group(1)) for s in states]
    assert done_counts == sorted(done_counts), states
    assert seen[0]["type"] == "display_data" and all(s["type"] == "update_display_data" for s in seen[1:]), seen
    assert len({s["id"] for s in seen}) == 1, seen  # one display, updated in place
    assert len(final) == 1 and final[0] is seen[-1], seen
    # (stages Spark skips, their shuffle output being there already, count in the total, not as done)
    assert re.match(r"Spark: \d+ stages, \d+/\d+ tasks, .* read in [\d.]+s$", final[0]["text"]), final
    assert f'href="{view["ui_url"]}"' in final[0]["html"]

    # A query that runs no Spark job shows nothing.
    text, seen = await watch_progress(nb, "report(spark.createDataFrame([(1,)], ['a']).schema.names)")
    assert 'RESULT ["a"]' in text and seen == [], seen

    status = await nb.run("%fedspark status")
    assert f"Spark UI: {view['ui_url']}" in status, status


async def test_the_spark_ui_link_serves_the_owner_only(session, kernel_env, token_for):  # noqa: F811
    _, view = session
    ui = HUB + view["ui_url"]
    assert view["ui_url"] == f"/services/fedspawner-gateway/api/v1/sessions/{view['id']}/ui/"
    owner = {"Authorization": f"token {kernel_env['JUPYTERHUB_API_TOKEN']}"}
    async with aiohttp.ClientSession() as http:
        async with http.get(ui, headers=owner) as resp:  # "/" redirects to the jobs page, under the prefix
            page = await resp.text()
            assert resp.status == 200 and resp.url.path == view["ui_url"] + "jobs/", (resp.status, page[:500])
            assert resp.headers["Content-Type"].startswith("text/html")
        title = re.search(r"<title>(.*?)</title>", page, re.S)
        assert title and "Jobs" in title.group(1), page[:3000]
        assert f'href="{view["ui_url"]}stages/"' in page, page[:4000]  # links under the gateway's path
        style = re.search(r'<link rel="stylesheet" href="([^"]+)"', page).group(1)
        assert style.startswith(view["ui_url"] + "static/"), style
        async with http.get(HUB + style, headers=owner) as resp:  # the page's own style sheet, through the proxy
            assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/css"), resp.headers
        async with http.get(f"{ui}api/v1/applications", headers=owner) as resp:
            apps = await resp.json(content_type=None)
            assert resp.status == 200 and len(apps) == 1, apps

        async with http.get(ui, headers={"Authorization": f"token {token_for('bob')}"}) as resp:
            answer = json.loads(await resp.text())
            assert resp.status == 403 and "belongs to another user" in answer["message"], answer
        async with http.post(ui, headers=owner) as resp:
            assert resp.status == 405 and resp.headers["Allow"] == "GET"
        async with http.get(ui, allow_redirects=False) as resp:  # a browser not signed in: the hub's OAuth
            assert resp.status == 302 and "/hub/api/oauth2/authorize?" in resp.headers["Location"], resp.headers
