"""The JupyterLab extension in Debian Chromium against a real Lab spawned by the real hub (issue 7).

The side panel lists the member clusters with live GPU numbers; jobs submitted from the
"Run on cluster…" dialog (a 2-rank DDP job, a PySpark job) run to Succeeded, with a finish
notification, per-rank logs and a way back to their cell; a followed log grows; cancel
removes every object; a second user never sees the first one's jobs; a cluster going down
shows in the panel within seconds. A plain ``jupyter lab`` without a hub shows the hint.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import urllib.request

import pytest
from kubernetes_asyncio import client

from fedspawner.jobs.limits import Limits

from .kube_helpers import pod_manifest, unique, wait_until_gone
from .test_gateway_jobs import SPARK_SCRIPT
from .test_gateway_support import DDP_SCRIPT, gone, leftovers
from .test_lab_ui_support import LONG, NEWS_QUESTION, NOTIFICATION_SETTINGS, plain_lab
from .test_lab_ui_support import *  # noqa: F401,F403 - the fixtures
from .test_launch_form import H100, apiserver_pid

pytestmark = pytest.mark.sandbox
NS = "fedspawner"

#: Each rank prints a tick a second for a minute (long enough to follow and cancel).
TICKS = """
import os, time
rank = os.environ.get("JOB_COMPLETION_INDEX", "0")
for i in range(1, 121):
    print(f"rank {rank} tick {i}", flush=True)
    time.sleep(0.5)
"""


async def test_plain_lab_without_a_hub_shows_how_to_configure(lab_browser, tmp_path):
    async with plain_lab(tmp_path) as (url, token):
        context = await lab_browser.new_context(viewport={"width": 1200, "height": 800})
        page = await context.new_page()
        try:
            await page.goto(f"{url}/lab?token={token}")
            await page.wait_for_selector('li[data-id="fedspawner-panel"]', timeout=60_000)
            if not await page.is_visible("#fedspawner-panel"):  # a restored layout may show it already
                await page.click('li[data-id="fedspawner-panel"]')
            hint = await page.wait_for_selector("#fedspawner-panel .fs-Hint:not([hidden])")
            text = await hint.inner_text()
            assert "No jobs gateway is configured" in text and "FEDSPAWNER_GATEWAY_URL" in text, text
            assert await page.is_hidden("#fedspawner-panel .fs-Section")
            assert await page.get_attribute("#fedspawner-panel", "aria-label") == "Federated clusters and jobs"
            await page.screenshot(path="/tmp/fedspawner-test/screenshots/lab-00-plain-hint.png")
        finally:
            await context.close()


async def test_a_lab_from_this_environment_does_not_ask_about_jupyter_news(lab_browser, tmp_path):
    """The package ships Lab defaults: no news question, no update check (users may turn them on)."""
    async with plain_lab(tmp_path) as (url, token):
        with urllib.request.urlopen(f"{url}/{NOTIFICATION_SETTINGS}?token={token}", timeout=30) as resp:
            settings = json.loads(resp.read())
        defaults = {k: v.get("default") for k, v in settings["schema"]["properties"].items()}
        assert defaults["fetchNews"] == "false" and defaults["checkForUpdates"] is False, defaults
        assert "fetchNews" not in settings["raw"], settings["raw"]  # a default, not a user's answer
        context = await lab_browser.new_context(viewport={"width": 1200, "height": 800})
        page = await context.new_page()
        try:
            await page.goto(f"{url}/lab?token={token}")
            await page.wait_for_selector('li[data-id="fedspawner-panel"]', timeout=60_000)
            await page.wait_for_timeout(3000)  # Lab asks right after restoring the layout
            assert await page.locator(".Toastify__toast", has_text=NEWS_QUESTION).count() == 0
        finally:
            await context.close()


async def test_panel_lists_clusters_with_live_gpu_numbers(ada_lab, admin_api):
    lab = ada_lab
    await lab.open()
    page = lab.page
    settings = await lab.lab_settings()  # the Lab the hub spawned ships the same defaults
    assert settings["schema"]["properties"]["fetchNews"]["default"] == "false", settings["schema"]
    assert await page.locator(".Toastify__toast", has_text=NEWS_QUESTION).count() == 0
    for cluster in ("onprem", "regional", "burst"):
        await page.wait_for_selector(f'.fs-Cluster[data-cluster="{cluster}"]', timeout=30_000)
    burst = '.fs-Cluster[data-cluster="burst"]'
    h100 = f'{burst} .fs-Gpu[data-gpu="{H100}"] .fs-GpuFree'
    before = await page.inner_text(h100)  # earlier tests of the session may hold some
    free = re.fullmatch(r"(\d+) free of 8", before)
    assert free and int(free.group(1)) > 0, before
    regional = await page.inner_text('.fs-Cluster[data-cluster="regional"]')
    assert re.search(r"up to \d+ free of 4", regional), regional  # declared capacity only: an upper bound
    assert "healthy" in await page.inner_text(burst)
    age = await page.inner_text(f"{burst} .fs-Age")
    assert age == "live" or age.startswith("data "), age  # how old the numbers are
    await lab.shot("01-panel-clusters")

    name = unique("h100-hog")
    async with admin_api("burst") as api:
        core = client.CoreV1Api(api)
        await core.create_namespaced_pod("research", pod_manifest(
            name, ["python", "-c", "import time; time.sleep(3600)"], gpus=int(free.group(1)),
            node_selector={"cloud.google.com/gke-accelerator": H100},
            tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]))
        try:
            await page.wait_for_function(f"() => document.querySelector('{h100}').textContent === '0 free of 8'",
                                         timeout=30_000)
            await lab.shot("02-panel-h100-taken")
        finally:
            await core.delete_namespaced_pod(name, "research", grace_period_seconds=0)
            await wait_until_gone(core, "research", name)
    await page.wait_for_function(f"() => document.querySelector('{h100}').textContent === '{before}'",
                                 timeout=30_000)


async def test_ddp_job_from_the_dialog_succeeds_with_notification_logs_and_origin(ada_lab):
    lab, page = ada_lab, ada_lab.page
    cells = await lab.put_notebook("ddp.ipynb", ["print('local cell')", DDP_SCRIPT])
    await lab.open("ddp.ipynb")
    await page.wait_for_selector(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell >> nth=1")

    # The dialog follows the schema: kind-specific fields, client-side checks before submission.
    await page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell").nth(1).locator(".jp-InputPrompt").click()
    await page.click('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-NotebookPanel-toolbar >> text="Run on cluster…"')
    await page.wait_for_selector(".jp-Dialog .fs-Form")
    await page.select_option(".jp-Dialog [data-kind]", "pytorch")
    await page.fill('.jp-Dialog [data-input="nodes"]', "0")
    error = await page.inner_text('.jp-Dialog .fs-FieldError[data-option="nodes"]')
    assert f"between 1 and {Limits().nodes}" in error, error  # the administrators' cap, from the schema
    assert await page.is_disabled(".jp-Dialog .jp-mod-accept")
    assert await page.query_selector('.jp-Dialog [data-input="executors"]') is None
    gpu = await page.inner_text(f'.jp-Dialog option[data-gpu-type="{H100}"]')
    assert "8 free on burst" in gpu, gpu
    await lab.shot("03-dialog-invalid")
    # "Where would it go?": the gateway's dry run of the fields as they are, nothing created
    await page.fill('.jp-Dialog [data-input="nodes"]', "2")
    await page.click(".jp-Dialog .fs-PlanButton")
    await page.wait_for_function(
        "() => document.querySelector('.jp-Dialog .fs-Plan').textContent.startsWith('Would go to')", timeout=30_000)
    plan = await page.inner_text(".jp-Dialog .fs-Plan")
    assert "(dry run: nothing was created)" in plan and "\n1. " in plan, plan
    await page.click(".jp-Dialog .jp-mod-reject")

    job_id = await lab.submit_cell(1, {"name": "lab-ddp", "nodes": "2", "cluster": "onprem"}, "pytorch")
    row = lab.row(job_id)
    assert "lab-ddp" in await page.inner_text(row)
    await page.wait_for_selector(f"{row}.fs-phase-succeeded", timeout=LONG)
    cells_text = await page.eval_on_selector_all(f"{row} td", "tds => tds.map(td => td.textContent)")
    assert cells_text[1:6] == ["pytorch", "onprem", "—", "Succeeded", "2/2"], cells_text

    toast = page.locator(".Toastify__toast", has_text="lab-ddp succeeded on onprem")
    await toast.wait_for(timeout=10_000)
    await page.wait_for_timeout(800)  # the toast slides in
    await lab.shot("04-ddp-succeeded-notification")
    await toast.locator("button", has_text="Show logs").click()
    view = f"#fedspawner-jobview-{job_id}"
    await lab.wait(f"{view} .fs-RankTab[data-rank='1']")
    for rank in (0, 1):
        await page.click(f"{view} .fs-RankTab[data-rank='{rank}']")
        await page.wait_for_function(
            f"() => document.querySelector('{view} .fs-Log').textContent"
            f".includes('rank {rank} of 2: all-reduced value = 3.0')", timeout=30_000)
    assert "/logs?rank=1&download=1" in await page.get_attribute(f"{view} a[download]", "href")
    await lab.shot("05-ddp-logs-rank1")

    # The job knows its cell: the panel's link opens the notebook there.
    status, detail = await lab.api("GET", f"jobs/{job_id}")
    assert status == 200 and detail["job"]["origin"] == {"path": "ddp.ipynb", "cell": cells[1]}, detail
    await page.click(f'{row} .fs-Origin')
    await page.wait_for_selector(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell.fs-mod-revealed")
    active = await page.eval_on_selector_all(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell",
                                             "cells => cells.findIndex(c => c.classList.contains('jp-mod-active'))")
    assert active == 1
    await lab.api("DELETE", f"jobs/{job_id}")


async def test_pyspark_job_from_the_dialog_succeeds(ada_lab):
    lab, page = ada_lab, ada_lab.page
    await lab.put_notebook("spark.ipynb", [SPARK_SCRIPT])
    await lab.open("spark.ipynb")
    job_id = await lab.submit_cell(0, {"name": "lab-spark", "executors": "2", "cluster": "regional"}, "spark")
    await page.click(f"{lab.row(job_id)}")
    view = f"#fedspawner-jobview-{job_id}"
    await page.wait_for_selector(f"{view} a:has-text('Spark UI')", timeout=LONG)  # while it runs
    await page.wait_for_selector(f"{lab.row(job_id)}.fs-phase-succeeded", timeout=LONG)
    await page.wait_for_function(
        f"() => document.querySelector('{view} .fs-Log').textContent.includes('RESULT sum of squares = 333833500')",
        timeout=30_000)
    assert "driver" in await page.inner_text(f"{view} .fs-RankTab[data-rank='0']")
    await lab.shot("06-spark-driver-log")
    await lab.api("DELETE", f"jobs/{job_id}")


async def test_follow_a_rank_cancel_and_a_second_user_sees_nothing(ada_lab, bob_lab, admin_api):
    lab, page = ada_lab, ada_lab.page
    await lab.put_notebook("ticks.ipynb", [TICKS])
    await lab.open("ticks.ipynb")
    job_id = await lab.submit_cell(0, {"name": "lab-ticks", "nodes": "2", "cluster": "onprem"}, "job")
    await page.click(lab.row(job_id))
    view = f"#fedspawner-jobview-{job_id}"
    await page.wait_for_selector(f"{view} .fs-RankTab[data-rank='1']")
    await page.click(f"{view} .fs-RankTab[data-rank='1']")
    log = f"document.querySelector('{view} .fs-Log').textContent"
    await page.wait_for_function(f"() => {log}.includes('rank 1 tick 3')", timeout=LONG)
    await page.wait_for_function(f"() => {log}.includes('rank 1 tick 8')", timeout=30_000)  # it grows
    assert "rank 0 tick" not in await page.eval_on_selector(f"{view} .fs-Log", "el => el.textContent")
    assert "following" in await page.inner_text(f"{view} .fs-LogStatus")
    await lab.shot("07-follow-rank1")
    status_text = await page.inner_text(".fs-StatusItem")
    assert status_text.startswith("1 job running"), status_text

    # Another user's Lab (dark theme) lists none of it, and cannot ask for everyone's jobs.
    await bob_lab.open()
    await bob_lab.page.wait_for_selector('.fs-Cluster[data-cluster="onprem"]', timeout=30_000)
    await asyncio.sleep(1)
    assert await bob_lab.page.query_selector(bob_lab.row(job_id)) is None
    assert await bob_lab.page.is_hidden(".fs-AllUsersLabel")
    status, body = await bob_lab.api("GET", "jobs?all=1")
    assert status == 403, body
    status, body = await bob_lab.api("GET", f"jobs/{job_id}")
    assert status == 403 and "belongs to another user" in body["message"], body
    await bob_lab.shot("08-second-user-dark")

    cluster = "onprem"
    assert await leftovers(admin_api, cluster, NS, job_id)
    await page.click(f"{view} button:has-text('Cancel')")
    await page.wait_for_selector(".jp-Dialog:has-text('Cancel lab-ticks?')")
    await lab.shot("09-cancel-confirm")
    await page.click(".jp-Dialog .jp-mod-accept")
    await page.wait_for_selector(lab.row(job_id), state="detached", timeout=30_000)
    assert await gone(admin_api, cluster, NS, job_id) == []  # deleted in the background


async def test_a_cluster_going_down_shows_in_the_panel(ada_lab, sandbox):
    lab, page = ada_lab, ada_lab.page
    await lab.open()
    regional = '.fs-Cluster[data-cluster="regional"]'
    await page.wait_for_selector(f"{regional}:not(.fs-mod-down)", timeout=30_000)
    pid = apiserver_pid(sandbox, "regional")
    os.kill(pid, signal.SIGSTOP)
    try:
        # the panel hears of it through the long-polled feed (up to 25 s per answer on a loaded machine)
        await page.wait_for_selector(f"{regional}.fs-mod-down", timeout=45_000)
        assert "down" in await page.inner_text(f"{regional} .fs-Health")
        await lab.shot("10-cluster-down")
    finally:
        os.kill(pid, signal.SIGCONT)
    await page.wait_for_selector(f"{regional}:not(.fs-mod-down)", timeout=60_000)
