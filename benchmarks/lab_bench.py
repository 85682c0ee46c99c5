"""Lab extension benchmark: panel latency, render cost with 200 jobs, dialog submit latency.

Runs a real ``jupyter lab`` (from this environment, so with the built extension and its server
extension) configured for the real gateway of a real JupyterHub over a real sandbox, driven by
Debian's Chromium through Playwright. Prints one JSON document.

- **panel latency** (goal ≤ 1 s): each round submits a small ``job`` (bare REST) and records,
  with a MutationObserver in the page, when the panel's row shows each phase. The reference is
  the rank-0 pod phase arriving on a direct Kubernetes watch of the member cluster; the
  baseline, in the same run, is the gateway's raw NDJSON watch stream read by this process.
  ``ratio`` is panel / raw stream.
- **render** (200 jobs over 3 clusters): the jobs feed answered by Playwright with 200 rows
  (then an answer with 10 of them changed); the cost is from the response's end (resource
  timing) to the table holding the new rows, in the browser. The baseline is the page parsing
  the same JSON (``JSON.parse``); the update's ratio to the first render shows the keyed diff.
- **dialog submit** (goal ≤ 300 ms): the Submit click in the "Run on cluster…" dialog → the job's
  objects seen on the cluster watch. Baseline: a bare ``POST /api/v1/jobs`` → the same events.

Usage: python benchmarks/lab_bench.py [--rounds 3] [--submits 5] [--sandbox-dir DIR]
       [--base-port $FEDSPAWNER_TEST_BASE_PORT] [--hub-port PORT]
Ports default to free ones; ``--sandbox-dir`` reuses a running sandbox.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import nbformat  # noqa: E402
from playwright.async_api import async_playwright  # noqa: E402
from status_propagation import (CLUSTER, HUB_EXTRA, PHASES, USER, ClusterWatch, Samples, bare_post,  # noqa: E402
                                gateway_lines, hub_api, meets, ratio, summary)

from fedspawner.client import Gateway  # noqa: E402
from fedspawner.demo.runner import prepare_hub, wait_http_ok  # noqa: E402
from fedspawner.sandbox.manager import Sandbox  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-dev-shm-usage"]
SCRIPT = "import time\ntime.sleep(2)\nprint('done', flush=True)\n"
LAB_TOKEN = "fedspawner-bench-lab"
#: Records when each panel row first shows each phase: window.__seen[id][phase] = epoch ms.
OBSERVER = """() => {
  window.__seen = {};
  const look = () => document.querySelectorAll('#fedspawner-panel tr[data-job]').forEach(tr => {
    const phase = tr.querySelector('.fs-Badge').textContent;
    const seen = (window.__seen[tr.dataset.job] ||= {});
    if (!(phase in seen)) { seen[phase] = Date.now(); }
  });
  new MutationObserver(look).observe(document.getElementById('fedspawner-panel'),
                                     {subtree: true, childList: true});
}"""

#: Resolves, once the panel holds 200 rows with ``want`` succeeded, to [now, [responseEnd of each
#: jobs feed answer]] (performance clock, ms).
ROWS_SHOWN = """(want) => new Promise(resolve => {
  const check = () => {
    const rows = document.querySelectorAll('#fedspawner-panel tr[data-job]').length;
    const done = document.querySelectorAll('#fedspawner-panel tr.fs-phase-succeeded').length;
    if (rows === 200 && done === want) {
      const feeds = performance.getEntriesByType('resource').filter(e => e.name.includes('/fedspawner/jobs'));
      resolve([performance.now(), feeds.map(e => e.responseEnd)]);
    } else {
      requestAnimationFrame(check);
    }
  };
  check();
})"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_lab(root: Path, gateway_url: str, token: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = dict(os.environ, FEDSPAWNER_GATEWAY_URL=gateway_url, JUPYTERHUB_API_TOKEN=token)
    env = {k: v for k, v in env.items() if k != "JUPYTERHUB_API_URL"}
    proc = subprocess.Popen([sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", f"--port={port}",
                             "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={LAB_TOKEN}",
                             f"--ServerApp.root_dir={root}"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    if not wait_http_ok(f"{url}/api/status?token={LAB_TOKEN}", 90):
        proc.terminate()
        raise SystemExit("jupyter lab did not start")
    return proc, url


async def open_lab(page, url: str, path: str = "") -> None:
    await page.goto(f"{url}/lab/tree/{path}?token={LAB_TOKEN}" if path else f"{url}/lab?token={LAB_TOKEN}")
    await page.wait_for_selector('li[data-id="fedspawner-panel"]', timeout=60_000)
    for _ in range(5):  # the sidebar tab toggles the panel, and a restored layout may show it already
        await page.wait_for_timeout(500)
        if await page.is_visible("#fedspawner-panel"):
            break
        await page.click('li[data-id="fedspawner-panel"]')
    await page.wait_for_selector('#fedspawner-panel .fs-Cluster', timeout=30_000)


async def panel_rounds(page, gateway: Gateway, cluster: ClusterWatch, rounds: int) -> dict:
    await page.evaluate(OBSERVER)
    panel, stream = Samples(), Samples()
    for i in range(rounds):
        job_id = await asyncio.to_thread(bare_post, gateway, {"kind": "job", "script": SCRIPT,
                                                              "name": f"panel-{i}", "cluster": CLUSTER})
        lines = await asyncio.wait_for(gateway_lines(gateway, job_id), 90)
        await asyncio.sleep(1.5)
        seen = await page.evaluate(f"() => window.__seen[{job_id!r}] || {{}}")
        k8s = cluster.pod_phases[job_id]
        for phase in PHASES:
            at = seen.get(phase)
            panel.add(at / 1000 if at else None, k8s.get(phase))
            stream.add(lines["job"].get(phase), k8s.get(phase))
        gateway.cancel(job_id)
    shown, raw = summary(panel), summary(stream)
    return {"pod_phase_to_panel_row_s": shown, "baseline_pod_phase_to_gateway_stream_s": raw,
            "ratio_panel_to_stream_median": ratio(shown, raw), "goal_s": 1.0, "meets_goal": meets(shown, 1.0)}


def synthetic_feed(version: str, changed: int = 0) -> dict:
    clusters = ("onprem", "regional", "burst")
    jobs = []
    for i in range(200):
        phase = "Succeeded" if i < changed else ("Running" if i % 3 else "Pending")
        jobs.append({"id": f"j-bench{i:04d}", "name": f"train-{i}", "kind": ("pytorch", "spark", "job")[i % 3],
                     "owner": USER, "cluster": clusters[i % 3], "gpu_type": "nvidia-a100-40gb" if i % 2 else None,
                     "gpu_display": "NVIDIA A100 40GB", "gpus_per_node": 2 if i % 2 else 0, "nodes": 2,
                     "phase": phase, "message": "", "ranks": {"ready": 2 if phase != "Pending" else 0, "total": 2},
                     "created": "2026-01-01T00:00:00Z", "origin": {"path": "train.ipynb", "cell": f"c{i}"}})
    return {"version": version, "jobs": jobs, "unavailable": []}


async def render_cost(browser, url: str, rounds: int) -> dict:
    first, update, parse = [], [], []
    for _ in range(rounds):
        context = await browser.new_context(viewport={"width": 1400, "height": 900})
        page = await context.new_page()
        release = asyncio.Event()

        async def feed(route):
            since = "since=" in route.request.url
            if not since:
                await route.fulfill(json=synthetic_feed("v1"))
            elif "since=v1" in route.request.url:
                await release.wait()
                await route.fulfill(json=synthetic_feed("v2", changed=10))
            else:
                await asyncio.sleep(20)
                await route.fulfill(json=synthetic_feed("v2", changed=10))
        await page.route(re.compile(r"/fedspawner/jobs(\?|$)"), feed)
        await open_lab(page, url)
        at, ends = await page.evaluate(ROWS_SHOWN, 0)
        first.append((at - max(e for e in ends if e <= at)) / 1000)
        release.set()
        at, ends = await page.evaluate(ROWS_SHOWN, 10)
        update.append((at - max(e for e in ends if e <= at)) / 1000)
        payload = json.dumps(synthetic_feed("v1"))
        parse.append(await page.evaluate("(text) => { const t = performance.now(); JSON.parse(text);"
                                         " return (performance.now() - t) / 1000; }", payload))
        await context.close()
    f, u, p = summary(first), summary(update), summary(parse)
    return {"jobs": 200, "clusters": 3, "first_render_s": f, "update_10_changed_s": u,
            "baseline_json_parse_s": p, "ratio_first_render_to_parse_median": ratio(f, p),
            "ratio_update_to_first_render_median": ratio(u, f),
            "note": "from the feed response's end to the rows in the DOM (requestAnimationFrame granularity)"}


async def dialog_rounds(page, url: str, root: Path, gateway: Gateway, cluster: ClusterWatch, rounds: int) -> dict:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(SCRIPT)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, root / "bench.ipynb")
    await open_lab(page, url, "bench.ipynb")
    await page.wait_for_selector(".jp-Notebook .jp-Cell")
    dialog, rest = Samples(), Samples()
    for i in range(rounds):
        await page.locator(".jp-Notebook .jp-Cell").first.locator(".jp-InputPrompt").click()
        await page.click('.jp-NotebookPanel-toolbar >> text="Run on cluster…"')
        await page.wait_for_selector(".jp-Dialog .fs-Form")
        await page.select_option(".jp-Dialog [data-kind]", "job")
        await page.fill('.jp-Dialog [data-input="name"]', f"dialog-{i}")
        await page.fill('.jp-Dialog [data-input="cluster"]', CLUSTER)
        known = set(cluster.added)
        clicked = await page.evaluate("() => { const t = Date.now();"
                                      " document.querySelector('.jp-Dialog .jp-mod-accept').click(); return t; }")
        await page.wait_for_selector(".jp-Dialog", state="detached")
        await asyncio.sleep(1.0)
        new = [j for j in cluster.added if j not in known]
        added = cluster.added[new[0]] if new else {}
        both = {"configmap", "job"} <= set(added)
        dialog.add(max(added["configmap"], added["job"]) if both else None, clicked / 1000)
        known = set(cluster.added)
        started = time.time()
        raw_id = await asyncio.to_thread(bare_post, gateway, {"kind": "job", "script": SCRIPT,
                                                              "name": f"rest-{i}", "cluster": CLUSTER})
        await asyncio.sleep(1.0)
        added = cluster.added[raw_id]
        both = {"configmap", "job"} <= set(added)
        rest.add(max(added["configmap"], added["job"]) if both else None, started)
        for job_id in [*new, raw_id]:
            gateway.cancel(job_id)
    d, r = summary(dialog), summary(rest)
    return {"submit_click_to_objects_on_cluster_s": d, "baseline_rest_post_to_objects_on_cluster_s": r,
            "ratio_dialog_to_rest_median": ratio(d, r), "goal_s": 0.3, "meets_goal": meets(d, 0.3)}


async def main_async(args, box: Sandbox) -> dict:
    hub = prepare_hub(Path(args.state_dir) / "hub", box.dir, port=args.hub_port, extra_config=HUB_EXTRA,
                      log=lambda *_: None)
    hub.start()
    lab = None
    try:
        url = f"{hub.url}/services/fedspawner-gateway/"
        if not wait_http_ok(f"{url}api/v1/health", 90):
            raise SystemExit(f"the gateway did not answer at {url}")
        hub_api(hub.url, "POST", f"/users/{USER}")
        token = hub_api(hub.url, "POST", f"/users/{USER}/tokens", {"note": "benchmark"})["token"]
        gateway = Gateway(url, token)
        root = Path(tempfile.mkdtemp(prefix="fs-lab-bench-"))
        lab, lab_url = start_lab(root, url, token)
        cluster = ClusterWatch(Path(box.read_state()["kubeconfig"]))
        await cluster.start()
        try:
            async with async_playwright() as p:
                browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = await (await browser.new_context(viewport={"width": 1400, "height": 900})).new_page()
                await open_lab(page, lab_url)
                panel = await panel_rounds(page, gateway, cluster, args.rounds)
                dialog = await dialog_rounds(page, lab_url, root, gateway, cluster, args.submits)
                render = await render_cost(browser, lab_url, args.rounds)
                await browser.close()
        finally:
            await cluster.stop()
    finally:
        if lab:
            lab.terminate()
            lab.wait(timeout=30)
        hub.stop()
    return {"benchmark": "lab", "rounds": args.rounds, "submits": args.submits, "panel_latency": panel,
            "render_200_jobs": render, "dialog_submit": dialog}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="jobs followed in the panel; render repetitions")
    parser.add_argument("--submits", type=int, default=5, help="submissions from the dialog")
    parser.add_argument("--state-dir", default=str(Path(tempfile.gettempdir()) / "fedspawner-bench-lab"))
    parser.add_argument("--sandbox-dir", help="reuse the running sandbox in this state directory")
    parser.add_argument("--base-port", type=int, default=int(os.environ.get("FEDSPAWNER_TEST_BASE_PORT", "0"))
                        or free_port())
    parser.add_argument("--hub-port", type=int, default=free_port())
    args = parser.parse_args()
    box = Sandbox(Path(args.sandbox_dir) if args.sandbox_dir else Path(args.state_dir) / "sandbox",
                  log=lambda *_: None)
    started_sandbox = not (box.read_state() and box.running_processes())
    if started_sandbox:
        box.up(base_port=args.base_port)
    try:
        print(json.dumps(asyncio.run(main_async(args, box)), indent=2))
    finally:
        if started_sandbox:
            box.down()


if __name__ == "__main__":
    main()
