"""Lab extension benchmark: panel latency, render cost with 200 and 2,000 jobs, dialog submit latency.

Runs a real ``jupyter lab`` (from this environment, so with the built extension and its server
extension) configured for the real gateway of a real JupyterHub over a real sandbox, driven by
Debian's Chromium through Playwright. Prints one JSON document.

- **panel latency** (goal ≤ 1 s): each round submits a small ``job`` (bare REST) and records,
  with a MutationObserver in the page, when the panel's row shows each phase. The reference is
  the rank-0 pod phase arriving on a direct Kubernetes watch of the member cluster; the
  baseline, in the same run, is the gateway's raw NDJSON watch stream read by this process.
  ``ratio`` is panel / raw stream.
- **render** (200 jobs, goal ≤ 100 ms; 2,000, an admin's "All users", goal ≤ 300 ms; over 3
  clusters): with the panel open and Lab idle, the jobs feed is answered by Playwright with the
  rows (then with 10 of them changed); the cost is from the answer's end (resource timing) to the
  frame that painted the rows, in the browser. The baseline is the page parsing the same JSON
  (``JSON.parse``); the update's ratio to the first render shows the keyed diff.
- **dialog submit** (goal ≤ 300 ms): the Submit click in the "Run on cluster…" dialog → the job's
  objects seen on the cluster watch. Baseline: a bare ``POST /api/v1/jobs`` → the same events.

Usage: python benchmarks/lab_bench.py [--rounds 3] [--submits 5] [--sandbox-dir DIR]
       [--base-port $FEDSPAWNER_TEST_BASE_PORT] [--hub-port PORT] [--render-only]
Ports default to free ones; ``--sandbox-dir`` reuses a running sandbox; ``--render-only`` runs
the render cases alone (a real Lab and Chromium, no sandbox: the feeds are routed anyway).
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
#: Records when each panel row first shows each phase: window.__seen[id][phase] = [epoch ms, epoch ms
#: of the end of the latest jobs feed answer then] (the panel's own share: feed answer → row).
OBSERVER = """() => {
  window.__seen = {};
  const feedEnd = () => {
    const feeds = performance.getEntriesByType('resource').filter(e => e.name.includes('/fedspawner/jobs'));
    return feeds.length ? performance.timeOrigin + Math.max(...feeds.map(e => e.responseEnd)) : null;
  };
  const look = () => document.querySelectorAll('#fedspawner-panel tr[data-job]').forEach(tr => {
    const phase = tr.querySelector('.fs-Badge').textContent;
    const seen = (window.__seen[tr.dataset.job] ||= {});
    if (!(phase in seen)) { seen[phase] = [Date.now(), feedEnd()]; }
  });
  new MutationObserver(look).observe(document.getElementById('fedspawner-panel'),
                                     {subtree: true, childList: true, characterData: true, attributes: true});
}"""

#: Resolves, once the panel holds ``rows`` rows of which ``done`` succeeded, to [when the DOM held
#: them (the end of the task that put them there, seen by a MutationObserver), when the next frame
#: had styled, laid out and painted them (a message posted from that frame's requestAnimationFrame
#: runs after its rendering), [responseEnd of each jobs feed answer]] (performance clock, ms).
ROWS_SHOWN = """([rows, done]) => new Promise(resolve => {
  const panel = document.getElementById('fedspawner-panel');
  const ready = () => panel.querySelectorAll('tr[data-job]').length === rows &&
    panel.querySelectorAll('tr.fs-phase-succeeded').length === done;
  const painted = inDom => requestAnimationFrame(() => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => {
      const feeds = performance.getEntriesByType('resource').filter(e => e.name.includes('/fedspawner/jobs'));
      resolve([inDom, performance.now(), feeds.map(e => e.responseEnd)]);
    };
    channel.port2.postMessage(null);
  });
  if (ready()) { painted(performance.now()); return; }
  const observer = new MutationObserver(() => {
    if (ready()) { observer.disconnect(); painted(performance.now()); }
  });
  observer.observe(panel, {subtree: true, childList: true, attributes: true, attributeFilter: ['class']});
})"""
#: Lab loads more resources than the default resource timing buffer (250) holds.
TIMING_BUFFER = "performance.setResourceTimingBufferSize(100000);"


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
    await page.goto(f"{url}/lab/tree/{path}?token={LAB_TOKEN}" if path else f"{url}/lab?token={LAB_TOKEN}",
                    timeout=120_000)
    await page.wait_for_selector('li[data-id="fedspawner-panel"]', timeout=60_000)
    for _ in range(5):  # the sidebar tab toggles the panel, and a restored layout may show it already
        await page.wait_for_timeout(500)
        if await page.is_visible("#fedspawner-panel"):
            break
        await page.click('li[data-id="fedspawner-panel"]')
    await page.wait_for_selector('#fedspawner-panel .fs-Cluster', timeout=30_000)


async def panel_rounds(page, gateway: Gateway, cluster: ClusterWatch, rounds: int) -> dict:
    await page.evaluate(OBSERVER)
    panel, stream, applied = Samples(), Samples(), Samples()
    for i in range(rounds):
        job_id = await asyncio.to_thread(bare_post, gateway, {"kind": "job", "script": SCRIPT,
                                                              "name": f"panel-{i}", "cluster": CLUSTER})
        lines = await asyncio.wait_for(gateway_lines(gateway, job_id), 90)
        await asyncio.sleep(1.5)
        seen = await page.evaluate(f"() => window.__seen[{job_id!r}] || {{}}")
        k8s = cluster.pod_phases[job_id]
        for phase in PHASES:
            at, answered = seen.get(phase) or (None, None)
            panel.add(at / 1000 if at else None, k8s.get(phase))
            applied.add(at / 1000 if at else None, answered / 1000 if answered else None)
            stream.add(lines["job"].get(phase), k8s.get(phase))
        gateway.cancel(job_id)
    shown, raw = summary(panel), summary(stream)
    return {"pod_phase_to_panel_row_s": shown, "baseline_pod_phase_to_gateway_stream_s": raw,
            "panel_side_feed_answer_to_row_s": summary(applied),
            "ratio_panel_to_stream_median": ratio(shown, raw), "goal_s": 1.0, "meets_goal": meets(shown, 1.0)}


def synthetic_feed(version: str, rows: int, changed: int = 0) -> dict:
    """A jobs feed answer with ``rows`` jobs over 3 clusters; the first ``changed`` have Succeeded."""
    clusters = ("onprem", "regional", "burst")
    jobs = []
    for i in range(rows):
        phase = "Succeeded" if i < changed else ("Running" if i % 3 else "Pending")
        jobs.append({"id": f"j-bench{i:05d}", "name": f"train-{i}", "kind": ("pytorch", "spark", "job")[i % 3],
                     "owner": USER, "cluster": clusters[i % 3], "gpu_type": "nvidia-a100-40gb" if i % 2 else None,
                     "gpu_display": "NVIDIA A100 40GB", "gpus_per_node": 2 if i % 2 else 0, "nodes": 2,
                     "phase": phase, "message": "", "ranks": {"ready": 2 if phase != "Pending" else 0, "total": 2},
                     "created": "2026-01-01T00:00:00Z", "origin": {"path": "train.ipynb", "cell": f"c{i}"}})
    return {"version": version, "jobs": jobs, "unavailable": []}


def synthetic_clusters() -> dict:
    """A clusters feed answer (``--render-only``: no gateway behind the Lab)."""
    gpu = {"type": "nvidia-a100-40gb", "display": "NVIDIA A100 40GB", "free": 4, "upper_bound": None, "total": 8}
    return {"version": "c1", "clusters": [{"name": name, "healthy": True, "usable": True, "gpus": [gpu]}
                                          for name in ("onprem", "regional", "burst")]}


async def render_once(browser, url: str, rows: int, synthetic_clusters_feed: bool) -> tuple[float, ...]:
    """One fresh page: open the panel, then answer the jobs feed with ``rows`` jobs and later with
    10 of them changed; returns (first render, its JS part, update, JSON.parse baseline) in s."""
    context = await browser.new_context(viewport={"width": 1400, "height": 900})
    await context.add_init_script(TIMING_BUFFER)
    page = await context.new_page()
    shown, release = asyncio.Event(), asyncio.Event()

    async def feed(route):
        if "since=" not in route.request.url:
            await shown.wait()  # the panel is open: its rows are laid out and painted as they come
            await route.fulfill(json=synthetic_feed("v1", rows))
        elif "since=v1" in route.request.url:
            await release.wait()
            await route.fulfill(json=synthetic_feed("v2", rows, changed=10))
        else:
            await asyncio.sleep(20)
            await route.fulfill(json=synthetic_feed("v2", rows, changed=10))
    await page.route(re.compile(r"/fedspawner/jobs(\?|$)"), feed)
    if synthetic_clusters_feed:
        async def clusters(route):
            if "since=" in route.request.url:
                await asyncio.sleep(20)
            await route.fulfill(json=synthetic_clusters())
        await page.route(re.compile(r"/fedspawner/clusters(\?|$)"), clusters)
    try:
        await open_lab(page, url)
        await page.wait_for_timeout(1000)  # Lab's own start-up work done
        first = asyncio.create_task(page.evaluate(ROWS_SHOWN, [rows, 0]))
        await asyncio.sleep(0.2)
        shown.set()
        in_dom, painted, ends = await first
        answered = max(e for e in ends if e <= in_dom)
        first_s, first_js_s = (painted - answered) / 1000, (in_dom - answered) / 1000
        update = asyncio.create_task(page.evaluate(ROWS_SHOWN, [rows, 10]))
        await asyncio.sleep(0.2)
        release.set()
        in_dom, painted, ends = await update
        update_s = (painted - max(e for e in ends if e <= in_dom)) / 1000
        payload = json.dumps(synthetic_feed("v1", rows))
        parse_s = await page.evaluate("(text) => { const t = performance.now(); JSON.parse(text);"
                                      " return (performance.now() - t) / 1000; }", payload)
        return first_s, first_js_s, update_s, parse_s
    finally:
        await context.close()


async def render_cost(browser, url: str, rounds: int, rows: int, goal: float,
                      synthetic_clusters_feed: bool = False) -> dict:
    first, first_js, update, parse = Samples(), Samples(), Samples(), Samples()
    for _ in range(rounds):
        f, js, u, p = await render_once(browser, url, rows, synthetic_clusters_feed)
        first.append(f)
        first_js.append(js)
        update.append(u)
        parse.append(p)
    f, u, p = summary(first), summary(update), summary(parse)
    return {"jobs": rows, "clusters": 3, "first_render_s": f, "first_render_dom_only_s": summary(first_js),
            "update_10_changed_s": u, "baseline_json_parse_s": p,
            "ratio_first_render_to_parse_median": ratio(f, p), "ratio_update_to_first_render_median": ratio(u, f),
            "goal_first_render_s": goal, "meets_goal": meets(f, goal),
            "note": "the panel open and idle, then from the feed answer's end (resource timing) to the frame "
                    "that painted the rows; dom_only: to the end of the task that put them in the DOM"}


async def render_cases(browser, url: str, rounds: int, synthetic_clusters_feed: bool = False) -> dict:
    """The first render's goals: 200 rows (a user's jobs) and 2,000 (an admin's "All users")."""
    return {"render_200_jobs": await render_cost(browser, url, rounds, 200, 0.1, synthetic_clusters_feed),
            "render_2000_jobs": await render_cost(browser, url, rounds, 2000, 0.3, synthetic_clusters_feed)}


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
                context = await browser.new_context(viewport={"width": 1400, "height": 900})
                await context.add_init_script(TIMING_BUFFER)
                page = await context.new_page()
                await open_lab(page, lab_url)
                panel = await panel_rounds(page, gateway, cluster, args.rounds)
                dialog = await dialog_rounds(page, lab_url, root, gateway, cluster, args.submits)
                render = await render_cases(browser, lab_url, args.rounds)
                await browser.close()
        finally:
            await cluster.stop()
    finally:
        if lab:
            lab.terminate()
            lab.wait(timeout=30)
        hub.stop()
    return {"benchmark": "lab", "rounds": args.rounds, "submits": args.submits, "panel_latency": panel,
            **render, "dialog_submit": dialog}


async def render_only(args) -> dict:
    """The render cases alone: a real Lab and Chromium, the feeds answered by Playwright (no sandbox)."""
    root = Path(tempfile.mkdtemp(prefix="fs-lab-bench-"))
    lab, lab_url = start_lab(root, f"http://127.0.0.1:{free_port()}/", "no-gateway-behind-the-routed-feeds")
    try:
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            render = await render_cases(browser, lab_url, args.rounds, synthetic_clusters_feed=True)
            await browser.close()
    finally:
        lab.terminate()
        lab.wait(timeout=30)
    return {"benchmark": "lab", "rounds": args.rounds, **render}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="jobs followed in the panel; render repetitions")
    parser.add_argument("--submits", type=int, default=5, help="submissions from the dialog")
    parser.add_argument("--state-dir", default=str(Path(tempfile.gettempdir()) / "fedspawner-bench-lab"))
    parser.add_argument("--sandbox-dir", help="reuse the running sandbox in this state directory")
    parser.add_argument("--base-port", type=int, default=int(os.environ.get("FEDSPAWNER_TEST_BASE_PORT", "0"))
                        or free_port())
    parser.add_argument("--hub-port", type=int, default=free_port())
    parser.add_argument("--render-only", action="store_true",
                        help="only the render cases, with routed feeds (no sandbox, hub or gateway)")
    args = parser.parse_args()
    if args.render_only:
        print(json.dumps(asyncio.run(render_only(args)), indent=2))
        return
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
