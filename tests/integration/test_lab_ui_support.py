"""Fixtures and helpers for the Lab extension's browser tests (no tests here).

A real JupyterLab runs in a notebook server that the real hub spawned on a sandbox cluster,
from the repository's environment (so it loads the built extension); Debian's Chromium
drives it through Playwright. Screenshots go to /tmp/fedspawner-test/screenshots/lab-*.png.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import asynccontextmanager
from pathlib import Path

import nbformat
import pytest

from .json_client import request_json
from .spawn_helpers import spawn, stop, user_token
from .test_launch_form import SHOTS, chromium, login

playwright_api = pytest.importorskip("playwright.async_api")

#: What ``from .test_lab_ui_support import *`` brings: the fixtures.
__all__ = ["lab_browser", "ada_lab", "bob_lab"]

LONG = 420_000  # ms: a job's whole life on the sandbox (a loaded machine included)


#: Lab's own question, which the Labs fedspawner ships switch off (jupyter-config/lab/settings).
NEWS_QUESTION = "official Jupyter news"
NOTIFICATION_SETTINGS = "lab/api/settings/@jupyterlab/apputils-extension:notification"


class Lab:
    """One user's JupyterLab in a browser page, with their server's token for REST calls."""

    def __init__(self, hub, user: str, token: str, context, page):
        self.hub, self.user, self.token, self.context, self.page = hub, user, token, context, page
        self.base = f"{hub.url}/user/{user}"

    async def open(self, path: str = "") -> None:
        """Open Lab (a document with ``path``) and show the federation panel."""
        await self.page.goto(f"{self.base}/lab/tree/{path}" if path else f"{self.base}/lab")
        await self.page.wait_for_selector("#jp-main-dock-panel", timeout=60_000)
        if path:
            await self.activate(path)
        await self.show_panel()

    async def show_panel(self) -> None:
        """Show the panel (its sidebar tab toggles it, and a restored layout may show it already)."""
        for _ in range(5):
            await self.page.wait_for_timeout(500)  # let Lab finish restoring the layout
            if await self.page.is_visible("#fedspawner-panel"):
                return
            await self.page.click('li[data-id="fedspawner-panel"]')
        await self.page.wait_for_selector("#fedspawner-panel", state="visible")

    async def activate(self, path: str) -> None:
        """Bring the open document ``path`` to the front (the restored layout may show another tab)."""
        await self.page.click(f'#jp-main-dock-panel .lm-TabBar-tab:has-text("{path}")')
        await self.page.wait_for_selector(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell")

    async def lab_settings(self) -> dict:
        """The notification settings of this Lab: its schema (defaults included) and the user's raw settings."""
        def call():
            req = urllib.request.Request(f"{self.base}/{NOTIFICATION_SETTINGS}",
                                         headers={"Authorization": f"token {self.token}"})
            with urllib.request.urlopen(req, timeout=30) as resp:
                return json.loads(resp.read())
        return await asyncio.to_thread(call)

    def row(self, job_id: str) -> str:
        return f'#fedspawner-panel tr[data-job="{job_id}"]'

    async def api(self, method: str, path: str, body=None) -> tuple[int, dict | str]:
        """The server extension's REST API with the user's token (as scripts would call it)."""
        answer = await asyncio.to_thread(request_json, method, f"{self.base}/fedspawner/{path}", body,
                                         token=self.token)
        return answer.status, answer.body

    async def cancel_all(self) -> None:
        """Cancel every job of this user (before and after the tests: nothing left on the clusters)."""
        status, body = await self.api("GET", "jobs")
        assert status == 200, body
        for job in body["jobs"]:
            await self.api("DELETE", f"jobs/{job['id']}")

    async def put_notebook(self, path: str, sources: list[str]) -> list[str]:
        """Save a notebook with these code cells through the contents API; returns the cell ids."""
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        body = {"type": "notebook", "format": "json", "content": json.loads(nbformat.writes(nb))}

        def call():
            req = urllib.request.Request(f"{self.base}/api/contents/{path}", method="PUT",
                                         data=json.dumps(body).encode(),
                                         headers={"Authorization": f"token {self.token}",
                                                  "Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=30) as resp:
                assert resp.status in (200, 201)
        await asyncio.to_thread(call)
        return [c.id for c in nb.cells]

    async def wait(self, selector: str, timeout: float = 30_000, state: str = "visible") -> None:
        """Wait for ``selector``; on a timeout, a screenshot (lab-failed-*.png) and the main area's text."""
        try:
            await self.page.wait_for_selector(selector, timeout=timeout, state=state)
        except playwright_api.TimeoutError:
            shot = await self.shot(f"failed-{self.user}")
            main = await self.page.inner_text("#jp-main-dock-panel")
            raise AssertionError(f"{selector} not {state} after {timeout / 1000}s (see {shot}):\n{main[-2000:]}")

    async def shot(self, name: str) -> Path:
        path = SHOTS / f"lab-{name}.png"
        await self.page.screenshot(path=str(path))
        return path

    async def submit_cell(self, index: int, fields: dict[str, str], kind: str) -> str:
        """Select cell ``index``, "Run on cluster…" from the toolbar, fill the dialog and submit;
        returns the new job's id (from the panel's newest row)."""
        page = self.page
        cell = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell").nth(index)
        await cell.locator(".jp-InputPrompt").click()
        before = set(await page.eval_on_selector_all("#fedspawner-panel tr[data-job]",
                                                     "rows => rows.map(r => r.dataset.job)"))
        await page.click('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-NotebookPanel-toolbar >> text="Run on cluster…"')
        await page.wait_for_selector(".jp-Dialog .fs-Form")
        await page.select_option(".jp-Dialog [data-kind]", kind)
        for name, value in fields.items():
            selector = f'.jp-Dialog [data-input="{name}"]'
            if await page.eval_on_selector(selector, "el => el.tagName") == "SELECT":
                await page.select_option(selector, value)
            else:
                await page.fill(selector, value)
        await page.click(".jp-Dialog .jp-mod-accept")
        await page.wait_for_selector(".jp-Dialog", state="detached")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            now = await page.eval_on_selector_all("#fedspawner-panel tr[data-job]",
                                                  "rows => rows.map(r => r.dataset.job)")
            new = [j for j in now if j not in before]
            if new:
                return new[0]
            await asyncio.sleep(0.1)
        raise AssertionError("the submitted job did not appear in the panel")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
async def lab_browser():
    async with chromium() as b:
        yield b


@asynccontextmanager
async def lab_for(browser, hub, api, user: str, color_scheme: str = "light"):
    """``user``'s server spawned on onprem by the hub, and a browser logged in to its Lab."""
    model = await asyncio.to_thread(spawn, api, user, {"profile": "cpu", "cluster": "onprem"}, "", 180)
    assert model.get("ready"), model
    token = await asyncio.to_thread(user_token, api, user)
    context, page = await login(browser, hub, user, color_scheme=color_scheme)
    lab = Lab(hub, user, token, context, page)
    await lab.cancel_all()
    try:
        yield lab
    finally:
        await lab.cancel_all()
        await context.close()
        await asyncio.to_thread(stop, api, user)


@pytest.fixture(scope="module")
async def ada_lab(lab_browser, gateway_up, hub_api_client):
    async with lab_for(lab_browser, gateway_up, hub_api_client, "lab-ada") as lab:
        yield lab


@pytest.fixture(scope="module")
async def bob_lab(lab_browser, gateway_up, hub_api_client):
    async with lab_for(lab_browser, gateway_up, hub_api_client, "lab-bob", color_scheme="dark") as lab:
        yield lab


@asynccontextmanager
async def plain_lab(root: Path):
    """A plain ``jupyter lab`` (no hub, no gateway) on a free port; yields its URL with token."""
    port, token = free_port(), "plain-lab-token"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTERHUB_", "FEDSPAWNER_GATEWAY"))}
    # the user's own Lab settings and workspaces stay out: what shows is what the environment ships
    env.update(JUPYTERLAB_SETTINGS_DIR=str(root / ".lab-settings"), JUPYTERLAB_WORKSPACES_DIR=str(root / ".lab-ws"))
    proc = subprocess.Popen([sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
                             f"--port={port}", "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}",
                             f"--ServerApp.root_dir={root}"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise AssertionError("jupyter lab did not start")
                await asyncio.sleep(0.3)
        yield url, token
    finally:
        proc.terminate()
        proc.wait(timeout=30)
