"""The launch form in headless Chromium against a real hub over the sandbox (issue 3, §4 and §6).

Logs in as the demo users, checks the choices, labels and greyed-out states, submits
impossible requests (nothing may be created), watches the form follow the federation
live (GPUs taken, a cluster going down, the endpoint failing) and starts a server.
Screenshots go to /tmp/fedspawner-test/screenshots/.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import time
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from kubernetes_asyncio import client

from .kube_helpers import pod_manifest, unique, wait_until_gone

os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
playwright_api = pytest.importorskip("playwright.async_api")

pytestmark = pytest.mark.sandbox

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = Path("/tmp/fedspawner-test/screenshots")
PASSWORD = "fedspawner"
H100 = "nvidia-h100-80gb"
A100 = "nvidia-a100-40gb"


# ---- browser fixtures ------------------------------------------------------------

@asynccontextmanager
async def chromium():
    """Debian's headless Chromium under Playwright (the browser tests' one launcher)."""
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: `make test` installs Debian's chromium"
    SHOTS.mkdir(parents=True, exist_ok=True)
    async with playwright_api.async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            await b.close()


@pytest.fixture(scope="module")
async def browser():
    async with chromium() as b:
        yield b


async def login(browser, hub, user: str, *, javascript: bool = True, color_scheme: str = "light"):
    """A new browser context logged in as ``user``; returns (context, page)."""
    context = await browser.new_context(viewport={"width": 1100, "height": 1000},
                                        java_script_enabled=javascript, color_scheme=color_scheme)
    page = await context.new_page()
    await page.goto(f"{hub.url}/hub/login")
    await page.fill("#username_input", user)
    await page.fill("#password_input", PASSWORD)
    async with page.expect_navigation():
        await page.click("#login_submit")
    assert "/hub/login" not in page.url, f"login as {user} failed: {page.url}"
    return context, page


async def open_form(page, hub):
    await page.goto(f"{hub.url}/hub/spawn")
    await page.wait_for_selector("#fedspawner-form")


async def options_of(page, select: str) -> list[dict]:
    """[{value, text, disabled, selected}] of a select's options."""
    return await page.eval_on_selector_all(
        f"{select} option",
        "els => els.map(o => ({value: o.value, text: o.textContent, disabled: o.disabled,"
        " selected: o.selected}))")


def by_value(opts: list[dict]) -> dict[str, dict]:
    return {o["value"]: o for o in opts}


async def wait_option(page, select: str, value: str, predicate: str, timeout: float = 10.0):
    """Wait until ``predicate`` (JS, over option ``o``) holds for one option; return its text."""
    find = f"document.querySelector('{select} option[value=\"{value}\"]')"
    await page.wait_for_function(f"() => {{ const o = {find}; return o && ({predicate}); }}",
                                 timeout=timeout * 1000)
    return await page.eval_on_selector(f"{select} option[value=\"{value}\"]", "o => o.textContent")


async def shot(page, name: str, *, open_selects: bool = False) -> Path:
    """A full-page screenshot; ``open_selects`` shows the selects as lists, so greyed options show."""
    path = SHOTS / f"{name}.png"
    selects = "#fs-cluster, #fs-gpu-type"
    if open_selects:
        await page.eval_on_selector_all(selects, "els => els.forEach(s => { s.size = s.options.length; })")
    try:
        await page.screenshot(path=str(path), full_page=True)
    finally:
        if open_selects:
            await page.eval_on_selector_all(selects, "els => els.forEach(s => s.removeAttribute('size'))")
    return path


# ---- sandbox helpers -------------------------------------------------------------

async def server_pods(sandbox, hub_api, user: str) -> list[tuple[str, str]]:
    """(cluster, pod) for every pod of ``user``'s notebook server on any member cluster."""
    found = []
    for cluster in sandbox.clusters:
        async with hub_api(cluster) as api:
            pods = await client.CoreV1Api(api).list_namespaced_pod(sandbox.namespace)
            found += [(cluster, p.metadata.name) for p in pods.items
                      if p.metadata.name.startswith(f"jupyter-{user}")]
    return found


def apiserver_pid(sandbox, cluster: str) -> int:
    """The pid of a sandbox cluster's kube-apiserver, from the sandbox state file."""
    state = json.loads((sandbox.state_dir / "sandbox.json").read_text())
    return next(p["pid"] for p in state["processes"]
                if p["cluster"] == cluster and p["component"] == "kube-apiserver")


async def stop_server(hub_api_client, sandbox, hub_api, user: str) -> None:
    """Stop ``user``'s default server through the REST API and wait until its pod is gone."""
    status, body = await asyncio.to_thread(hub_api_client.request, "DELETE", f"/users/{user}/server")
    assert status in (202, 204, 400, 404), (status, body)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        _, info = await asyncio.to_thread(hub_api_client.request, "GET", f"/users/{user}")
        server = ((info or {}).get("servers") or {}).get("")
        if not server and not await server_pods(sandbox, hub_api, user):
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"{user}'s server did not stop within 60 s")


# ---- tests -----------------------------------------------------------------------

async def test_form_lists_profiles_clusters_and_gpu_types_with_live_counts(browser, hub):
    context, page = await login(browser, hub, "alice")
    try:
        await open_form(page, hub)
        profiles = await page.eval_on_selector_all('input[name="profile"]', "els => els.map(e => e.value)")
        assert profiles[:3] == ["cpu", "a100", "h100"]  # alice is in gpu-users and cloud-users
        assert await page.is_checked('input[name="profile"][value="cpu"]')

        clusters = by_value(await options_of(page, "#fs-cluster"))
        assert list(clusters) == ["auto", "onprem", "regional", "burst"]
        assert clusters["auto"]["text"] == "Auto (let the hub choose)" and clusters["auto"]["selected"]
        assert clusters["onprem"]["text"] == "Campus HPC · campus · University Research Computing"
        assert clusters["regional"]["text"] == ("Regional Research Platform · regional-dc · "
                                                "Research Platform Consortium")
        assert clusters["burst"]["text"] == "Cloud Burst (GKE) · europe-west4 · Central IT cloud account"
        assert not any(o["disabled"] for o in clusters.values())

        gpus = by_value(await options_of(page, "#fs-gpu-type"))
        assert gpus[""]["text"] == "No GPU" and gpus[""]["selected"]
        assert gpus[A100]["text"] == "NVIDIA A100 40GB — 6 free"  # 8 on the nodes, the hub's quota allows 6
        assert gpus[H100]["text"] == "NVIDIA H100 80GB — 8 free"
        assert gpus["nvidia-l4"]["text"] == "NVIDIA L4 — up to 4 free"  # regional: declared capacity only
        assert gpus["any"]["text"].startswith("Any GPU — up to ")
        assert not any(o["disabled"] for o in gpus.values())

        # The table says which numbers are exact and which are upper bounds.
        regional = await page.inner_text('#fs-cluster-table tr[data-cluster="regional"]')
        assert "upper bounds" in regional and "up to 4 free, from declared capacity" in regional
        onprem = await page.inner_text('#fs-cluster-table tr[data-cluster="onprem"]')
        assert "NVIDIA A100 40GB: 8 free of 8 (your quota allows 6)" in onprem

        # Labels, hints and the live region are wired for assistive technology.
        assert await page.get_attribute("#fs-live", "aria-live") == "polite"
        for control, label in (("#fs-cluster", "Cluster"), ("#fs-gpu-type", "GPU type"),
                               ("#fs-gpu-count", "Number of GPUs")):
            assert await page.get_by_label(label, exact=True).get_attribute("id") == control[1:]
            described = (await page.get_attribute(control, "aria-describedby")).split()
            for hint in described:
                assert await page.query_selector(f"#{hint}") is not None
        assert await page.is_disabled("#fs-gpu-count")  # no GPU chosen: no count to give

        # Keyboard only: arrow to the A100 profile; clusters and GPU follow the profile.
        await page.focus('input[name="profile"][value="cpu"]')
        await page.keyboard.press("ArrowDown")
        assert await page.is_checked('input[name="profile"][value="a100"]')
        clusters = by_value(await options_of(page, "#fs-cluster"))
        assert clusters["onprem"]["disabled"] is False
        for name in ("regional", "burst"):
            assert clusters[name]["disabled"]
            assert clusters[name]["text"].endswith("— not allowed by the selected profile")
        assert await page.input_value("#fs-gpu-type") == A100
        assert await page.input_value("#fs-gpu-count") == "1"
        assert await page.get_attribute("#fs-gpu-count", "max") == "4"
        assert "At most 4 on one node (Campus HPC)" in await page.inner_text("#fs-gpu-count-hint")
        gpus = by_value(await options_of(page, "#fs-gpu-type"))
        assert gpus[H100]["disabled"]
        assert gpus[H100]["text"] == "NVIDIA H100 80GB — not where this profile runs"
        assert gpus[""]["disabled"] and gpus[""]["text"] == "No GPU — this profile includes a GPU"
        assert "runs only on Campus HPC" in await page.inner_text("#fs-live")
        # Tab reaches the cluster select, and the keyboard picks an option.
        await page.focus("#fs-cluster")
        await page.keyboard.press("ArrowDown")
        assert await page.input_value("#fs-cluster") == "onprem"  # disabled options are skipped
        await shot(page, "01-alice-a100-profile", open_selects=True)

        # Back to CPU: the GPU the profile had filled in goes away again; the cluster stays.
        await page.check('input[name="profile"][value="cpu"]')
        assert await page.input_value("#fs-gpu-type") == ""
        assert await page.input_value("#fs-cluster") == "onprem"
        assert await page.is_disabled('#fs-gpu-type option[value="nvidia-l4"]')  # not on Campus HPC
        await page.select_option("#fs-cluster", "auto")
        await page.select_option("#fs-gpu-type", "nvidia-l4")
        await page.select_option("#fs-cluster", "onprem")
        gpus = by_value(await options_of(page, "#fs-gpu-type"))
        assert gpus["nvidia-l4"]["text"] == "NVIDIA L4 — not on Campus HPC"  # the choice, so still enabled
        assert gpus["nvidia-l4"]["selected"] and not gpus["nvidia-l4"]["disabled"]
        assert "not possible now: not on Campus HPC" in await page.inner_text("#fs-gpu-warning")
        await page.select_option("#fs-cluster", "auto")
        assert await page.is_hidden("#fs-gpu-warning")
        assert await page.input_value("#fs-gpu-count") == "1"
        hint = await page.inner_text("#fs-gpu-count-hint")
        assert "hub checks the count" in hint  # regional shows no node sizes
    finally:
        await context.close()


async def test_server_render_without_javascript_matches_the_live_script(browser, hub):
    """The page is complete without JavaScript, and the script agrees with the server."""
    states = []
    for javascript in (False, True):
        context, page = await login(browser, hub, "alice", javascript=javascript)
        try:
            await open_form(page, hub)
            states.append((await options_of(page, "#fs-cluster"), await options_of(page, "#fs-gpu-type"),
                           await page.inner_text("#fs-cluster-table")))
        finally:
            await context.close()
    assert states[0] == states[1]


async def test_bob_does_not_get_the_cloud_profile(browser, hub):
    context, page = await login(browser, hub, "bob", color_scheme="dark")  # JupyterHub's dark mode too
    try:
        await open_form(page, hub)
        profiles = await page.eval_on_selector_all('input[name="profile"]', "els => els.map(e => e.value)")
        assert profiles[:2] == ["cpu", "a100"] and "h100" not in profiles  # h100 is for cloud-users only
        assert "Big GPU" not in await page.content()
        await shot(page, "02-bob-form-dark", open_selects=True)
    finally:
        await context.close()


async def test_gpu_type_with_none_free_is_greyed_out_live(browser, hub, sandbox, admin_api):
    """Another tenant takes every H100 while the form is open: the label and state follow."""
    context, page = await login(browser, hub, "alice")
    name = unique("h100-hog")
    try:
        await open_form(page, hub)
        assert "8 free" in await wait_option(page, "#fs-gpu-type", H100, "!o.disabled")
        async with admin_api("burst") as api:
            core = client.CoreV1Api(api)
            manifest = pod_manifest(name, ["python", "-c", "import time; time.sleep(3600)"], gpus=8,
                                    node_selector={"cloud.google.com/gke-accelerator": H100},
                                    tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists",
                                                  "effect": "NoSchedule"}])
            await core.create_namespaced_pod("research", manifest)
            try:
                text = await wait_option(page, "#fs-gpu-type", H100, "o.disabled")
                assert text == "NVIDIA H100 80GB — none free now"
                burst = await page.inner_text('#fs-cluster-table tr[data-cluster="burst"]')
                assert "NVIDIA H100 80GB: 0 free of 8" in burst
                # The cloud profile asks for an H100: it stays selected, with a warning.
                await page.check('input[name="profile"][value="h100"]')
                assert await page.input_value("#fs-gpu-type") == H100
                assert not await page.is_disabled(f'#fs-gpu-type option[value="{H100}"]')
                assert "not possible now: none free now" in await page.inner_text("#fs-gpu-warning")
                await shot(page, "03-alice-h100-none-free", open_selects=True)
            finally:
                await core.delete_namespaced_pod(name, "research", grace_period_seconds=0)
                await wait_until_gone(core, "research", name)
        text = await wait_option(page, "#fs-gpu-type", H100, "o.textContent.endsWith('8 free')")
        assert text == "NVIDIA H100 80GB — 8 free"
        assert "NVIDIA H100 80GB — 8 free" in await page.inner_text("#fs-live")  # announced: it is the choice
        assert await page.is_hidden("#fs-gpu-warning")
    finally:
        await context.close()


@pytest.fixture
async def alice_without_server(browser, hub, sandbox, hub_api, hub_api_client):
    """A page logged in as alice, whose server is stopped first (so a start from the form is a new one)."""
    await stop_server(hub_api_client, sandbox, hub_api, "alice")
    context, page = await login(browser, hub, "alice")
    try:
        yield page
    finally:
        await context.close()


async def submit(page):
    async with page.expect_navigation():
        await page.click("#spawn_form button[type=submit]")


async def test_impossible_requests_come_back_with_a_message_and_create_nothing(
        alice_without_server, hub, sandbox, hub_api, hub_api_client):
    page = alice_without_server
    # 9 × A100: the input says at most 4; get past it as a script could, and the hub refuses.
    await open_form(page, hub)
    await page.select_option("#fs-gpu-type", A100)
    await page.eval_on_selector("#spawn_form", "f => f.noValidate = true")
    await page.fill("#fs-gpu-count", "9")
    await submit(page)
    error = await page.inner_text(".spawn-error-msg")
    assert "9 × NVIDIA A100 40GB do not fit on one node anywhere" in error
    assert "the most on one node is 4" in error and "Traceback" not in error
    assert await page.evaluate("document.activeElement.classList.contains('spawn-error-msg')")
    # What was asked is still there to correct.
    assert await page.input_value("#fs-gpu-type") == A100
    assert await page.input_value("#fs-gpu-count") == "9"
    assert await page.evaluate("!document.getElementById('fs-gpu-count').checkValidity()")
    await shot(page, "04-alice-error-too-many-gpus")
    assert await server_pods(sandbox, hub_api, "alice") == []

    # A cluster the profile does not allow, un-greyed by tampering with the page.
    await open_form(page, hub)
    await page.check('input[name="profile"][value="a100"]')
    assert await page.is_disabled('#fs-cluster option[value="burst"]')
    # Un-grey and select in one step: the live availability updates grey it again.
    await page.eval_on_selector("#fs-cluster", """s => {
        s.querySelector('option[value="burst"]').disabled = false;
        s.value = "burst";
    }""")
    await submit(page)
    error = await page.inner_text(".spawn-error-msg")
    assert "You may not use the cluster 'burst' with this profile or your groups" in error
    assert "open to you: onprem" in error
    assert await page.is_checked('input[name="profile"][value="a100"]')
    assert await page.input_value("#fs-cluster") == "auto"  # the refused cluster is not re-selected
    await shot(page, "05-alice-error-cluster-not-allowed")
    assert await server_pods(sandbox, hub_api, "alice") == []
    status, info = await asyncio.to_thread(hub_api_client.request, "GET", "/users/alice")
    assert status == 200 and not info["servers"]


async def test_cluster_going_down_is_marked_in_the_open_form(browser, hub, sandbox):
    context, page = await login(browser, hub, "alice")
    pid = apiserver_pid(sandbox, "burst")
    try:
        await open_form(page, hub)
        assert not await page.is_disabled('#fs-cluster option[value="burst"]')
        os.kill(pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            text = await wait_option(page, "#fs-cluster", "burst", "o.disabled", timeout=12)
            took = time.monotonic() - started
            assert took <= 12
            assert text.startswith("Cloud Burst (GKE) · europe-west4 · Central IT cloud account — down")
            live = await page.inner_text("#fs-live")
            assert live.startswith("Availability changed: Cloud Burst (GKE): down")
            status = await page.inner_text('#fs-cluster-table tr[data-cluster="burst"] .fs-state')
            assert status.startswith("Down")
            gpus = by_value(await options_of(page, "#fs-gpu-type"))
            assert gpus[H100]["disabled"] and gpus[H100]["text"] == "NVIDIA H100 80GB — its cluster is down"
            await shot(page, "06-alice-burst-down", open_selects=True)
            print(f"burst marked down in the open form after {took:.1f} s")
        finally:
            os.kill(pid, signal.SIGCONT)
        await wait_option(page, "#fs-cluster", "burst", "!o.disabled", timeout=30)
        assert "Cloud Burst (GKE) is available again." in await page.inner_text("#fs-live")
    finally:
        await context.close()


async def test_form_keeps_working_when_the_endpoint_fails(browser, hub):
    context, page = await login(browser, hub, "alice")
    try:
        async def fail(route):
            await route.fulfill(status=503, body="unavailable")

        await page.route("**/api/fedspawner/availability*", fail)
        await open_form(page, hub)
        await page.select_option("#fs-gpu-type", A100)
        await page.wait_for_function(
            "() => document.getElementById('fs-live').textContent.startsWith('Availability unavailable')")
        assert "the hub answered 503" in await page.inner_text("#fs-live")
        assert await page.input_value("#fs-gpu-type") == A100  # nothing reset
        await shot(page, "07-alice-availability-unavailable")
        await page.unroute("**/api/fedspawner/availability*")
        await page.wait_for_function(
            "() => document.getElementById('fs-live').textContent === 'Live availability is back.'",
            timeout=20000)
        assert await page.input_value("#fs-gpu-type") == A100
    finally:
        await context.close()


async def test_start_a_server_from_the_form_and_watch_progress(
        alice_without_server, hub, sandbox, hub_api, hub_api_client):
    page = alice_without_server
    try:
        await open_form(page, hub)
        await page.check('input[name="profile"][value="cpu"]')
        await page.select_option("#fs-cluster", "auto")
        await page.select_option("#fs-gpu-type", "")
        await shot(page, "08-alice-before-start")
        await submit(page)
        assert re.search(r"/hub/spawn-pending/alice", page.url) or "/user/alice" in page.url, page.url
        if "/spawn-pending/" in page.url:
            await page.wait_for_function(
                "() => document.getElementById('progress-log').textContent.includes('starting there')",
                timeout=60000)
            await page.click("#progress-details summary")
            await shot(page, "09-alice-spawn-progress")
            log = await page.inner_text("#progress-log")
            assert re.search(r"\w+: .*starting there", log), log
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            _, info = await asyncio.to_thread(hub_api_client.request, "GET", "/users/alice")
            server = (info.get("servers") or {}).get("")
            if server and server.get("ready"):
                break
            await asyncio.sleep(0.5)
        else:
            raise AssertionError(f"alice's server did not become ready: {info}")
        pods = await server_pods(sandbox, hub_api, "alice")
        assert len(pods) == 1, pods
        await page.wait_for_url(re.compile(r"/user/alice/"), timeout=60000)
        await page.wait_for_selector(".jp-LabShell", timeout=60000)  # JupyterLab really runs
        await shot(page, "10-alice-server-running")
    finally:
        await stop_server(hub_api_client, sandbox, hub_api, "alice")
    assert await server_pods(sandbox, hub_api, "alice") == []
