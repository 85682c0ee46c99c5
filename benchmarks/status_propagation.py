"""Kernel-side benchmark: status propagation into the widget, and ``%%fedsubmit`` latency.

Runs against a real sandbox, a real JupyterHub with the gateway as its managed service, and a real
IPython kernel (``jupyter_client``) that loads fedspawner like a notebook does. Prints one JSON document.

- **status propagation** (goal ≤ 1 s): each round submits a small ``job`` from the kernel with
  ``%%fedsubmit`` and observes, with trait observers inside the kernel, when the widget's ``ranks``
  (rank 0's pod phase) and ``phase`` traits change. The reference moment of each pod phase change
  is its arrival on a direct Kubernetes watch of the member cluster, opened by this process before
  the job exists. The baseline, measured in the same run for the same changes, is the arrival of
  the matching line on the gateway's raw NDJSON watch stream, read by this process: the widget's
  own cost is the difference, and ``ratio`` is widget / raw stream.
- **submit** (goal ≤ 300 ms): ``%%fedsubmit`` call (timed inside the kernel) → the job's objects
  exist on the member cluster (their ADDED events on the same Kubernetes watch), and → the magic
  returned. The baseline is the same submission as a bare ``POST /api/v1/jobs`` from this process,
  so ``ratio`` is the client's overhead (argument parsing, validation, handle and widget creation).

A change one side never saw (the widget, the stream or the cluster watch) counts as ``missed``
rather than being left out, and any miss fails the goal.

Clocks: everything runs on this machine, so ``time.time()`` in the kernel and here is one clock.

Usage: python benchmarks/status_propagation.py [--rounds 5] [--submits 8] [--sandbox-dir DIR]
       [--base-port 21600] [--hub-port 21200] [--keep]
``--sandbox-dir`` reuses a running sandbox (else one is started there and stopped at the end).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from jupyter_client.manager import AsyncKernelManager  # noqa: E402
from kubernetes_asyncio import client, config, watch  # noqa: E402

from fedspawner.client import Gateway  # noqa: E402
from fedspawner.client.follow import rank0  # noqa: E402
from fedspawner.demo.runner import prepare_hub, wait_http_ok  # noqa: E402
from fedspawner.sandbox.manager import Sandbox  # noqa: E402

CLUSTER, NS, USER = "onprem", "fedspawner", "bench"
ADMIN_TOKEN = "fedspawner-bench-admin-token"
HUB_EXTRA = f"""
c.JupyterHub.load_roles = list(c.JupyterHub.load_roles) + [{{
    "name": "bench-admin", "services": ["bench"], "scopes": ["admin:users", "tokens"]}}]
c.JupyterHub.services = list(c.JupyterHub.services) + [{{"name": "bench", "api_token": "{ADMIN_TOKEN}"}}]
"""
SCRIPT = "import time\ntime.sleep(2)\nprint('done', flush=True)\n"
OBSERVE = '''
import asyncio, json, time
def observe(w):
    events = []
    def on_ranks(change):
        old = change["old"][0]["phase"] if change["old"] else None
        new = change["new"][0]["phase"] if change["new"] else None
        if new != old:
            events.append(["pod", new, time.time()])
    w.observe(on_ranks, "ranks")
    w.observe(lambda change: events.append(["job", change["new"], time.time()]), "phase")
    return events
'''


class Samples(list):
    """Measured delays, and how many could not be measured (one side never saw the event): a
    change the widget never shows is the worst outcome, so it is counted, not dropped."""

    missed = 0

    def add(self, at: float | None, reference: float | None) -> None:
        if at is None or reference is None:
            self.missed += 1
        else:
            self.append(at - reference)


def summary(values: list[float]) -> dict:
    missed = getattr(values, "missed", 0)
    values = sorted(values)
    if not values:
        return {"n": 0, "missed": missed}
    return {"n": len(values), "missed": missed, "median": round(statistics.median(values), 4),
            "p90": round(values[min(len(values) - 1, int(0.9 * len(values)))], 4),
            "min": round(values[0], 4), "max": round(values[-1], 4)}


def meets(result: dict, goal: float) -> bool:
    return bool(result["n"]) and not result["missed"] and result["max"] <= goal


def ratio(a: dict, b: dict) -> float | None:
    return round(a["median"] / b["median"], 2) if a.get("n") and b.get("n") and b["median"] > 0 else None


def hub_api(hub_url: str, method: str, path: str, body=None) -> dict:
    req = urllib.request.Request(f"{hub_url}/hub/api{path}", method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Authorization": f"token {ADMIN_TOKEN}"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as err:
        if err.code == 409:  # the user exists already
            return {}
        raise


class ClusterWatch:
    """Arrival times of pod phases and object ADDED events on the member cluster, by job id."""

    def __init__(self, kubeconfig: Path) -> None:
        self.kubeconfig = kubeconfig
        self.pod_phases: dict[str, dict[str, float]] = defaultdict(dict)
        self.added: dict[str, dict[str, float]] = defaultdict(dict)
        self.tasks: list[asyncio.Task] = []

    async def start(self) -> None:
        self.api = await config.new_client_from_config(str(self.kubeconfig), context=CLUSTER)
        core, batch = client.CoreV1Api(self.api), client.BatchV1Api(self.api)
        listers = (("pod", core.list_namespaced_pod), ("configmap", core.list_namespaced_config_map),
                   ("job", batch.list_namespaced_job))
        for kind, lister in listers:
            self.tasks.append(asyncio.create_task(self._watch(kind, lister)))
        await asyncio.sleep(1.0)  # let the watches open before anything is submitted

    async def _watch(self, kind: str, lister) -> None:
        while True:
            async with watch.Watch().stream(lister, NS, label_selector="fedspawner.dev/job-id",
                                            timeout_seconds=300) as stream:
                async for event in stream:
                    now = time.time()
                    obj = event["object"]
                    job_id = obj.metadata.labels.get("fedspawner.dev/job-id")
                    if event["type"] == "ADDED":
                        self.added[job_id].setdefault(kind, now)
                    rank = obj.metadata.labels.get("batch.kubernetes.io/job-completion-index")
                    if kind == "pod" and rank == "0":
                        self.pod_phases[job_id].setdefault(obj.status.phase, now)

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.api.close()


async def gateway_lines(gateway: Gateway, job_id: str) -> dict[str, dict[str, float]]:
    """First arrival of each rank-0 pod phase and job phase on the raw watch stream."""
    seen: dict[str, dict[str, float]] = {"pod": {}, "job": {}}
    async for job in gateway.watch(job_id):
        now = time.time()
        pod = rank0(job)
        if pod is not None:
            seen["pod"].setdefault(pod["phase"], now)
        seen["job"].setdefault(job["phase"], now)
    return seen


def bare_post(gateway: Gateway, body: dict) -> str:
    """``POST /api/v1/jobs`` with nothing but the standard library (the baseline); returns the job id."""
    req = urllib.request.Request(f"{gateway.url}api/v1/jobs", method="POST", data=json.dumps(body).encode(),
                                 headers={"Authorization": f"token {gateway.token}",
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())["job"]["id"]


class Kernel:
    """A real IPython kernel with the notebook server's environment."""

    def __init__(self, env: dict[str, str]) -> None:
        self.km = AsyncKernelManager(kernel_name="python3")
        self.env = env

    async def __aenter__(self) -> Kernel:
        await self.km.start_kernel(env=self.env)
        self.kc = self.km.client()
        self.kc.start_channels()
        await self.kc.wait_for_ready(timeout=60)
        return self

    async def __aexit__(self, *exc) -> None:
        self.kc.stop_channels()
        await self.km.shutdown_kernel(now=True)

    async def run(self, code: str) -> str:
        out: list[str] = []

        def hook(msg):
            content = msg["content"]
            if msg["msg_type"] == "stream":
                out.append(content["text"])
            elif msg["msg_type"] == "error":
                out.append("\n".join(content["traceback"]))
        reply = await self.kc.execute_interactive(code, output_hook=hook, timeout=300)
        if reply["content"]["status"] != "ok":
            raise RuntimeError(f"cell failed: {''.join(out)}")
        return "".join(out)

    async def json(self, code: str) -> object:
        return json.loads((await self.run(code)).strip().splitlines()[-1])


#: The rank-0 pod phases every round goes through (its script sleeps 2 s and succeeds).
PHASES = ("Running", "Succeeded")


async def status_rounds(kernel: Kernel, gateway: Gateway, cluster: ClusterWatch, rounds: int) -> dict:
    await kernel.run(OBSERVE)
    widget_pod, widget_job, stream_pod, stream_job = Samples(), Samples(), Samples(), Samples()
    for i in range(rounds):
        job_id = await kernel.json(
            f"job = get_ipython().run_cell_magic('fedsubmit', 'job -n status-{i} --cluster {CLUSTER}', "
            f"{SCRIPT!r})\nw = job.widget\nevents = observe(w)\nprint(json.dumps(job.id))")
        stream = asyncio.create_task(gateway_lines(gateway, job_id))
        events = await kernel.json(
            "while w.phase not in ('Succeeded', 'Failed', 'Cancelled'):\n    await asyncio.sleep(0.05)\n"
            "await asyncio.sleep(0.5)\nprint(json.dumps(events))")
        lines = await asyncio.wait_for(stream, 60)
        k8s = cluster.pod_phases[job_id]
        shown = {"pod": {}, "job": {}}
        for what, phase, at in events:
            shown[what].setdefault(phase, at)
        for phase in PHASES:
            widget_pod.add(shown["pod"].get(phase), k8s.get(phase))
            widget_job.add(shown["job"].get(phase), k8s.get(phase))
            stream_pod.add(lines["pod"].get(phase), k8s.get(phase))
            stream_job.add(lines["job"].get(phase), k8s.get(phase))
        gateway.cancel(job_id)
    widget, raw = summary(widget_pod), summary(stream_pod)
    return {
        "pod_phase_to_widget_ranks_trait_s": widget,
        "pod_phase_to_widget_phase_trait_s": summary(widget_job),
        "baseline_pod_phase_to_gateway_stream_line_s": raw,
        "baseline_pod_phase_to_gateway_stream_job_phase_s": summary(stream_job),
        "ratio_widget_to_stream_median": ratio(widget, raw),
        "widget_overhead_over_stream_median_s": round(widget["median"] - raw["median"], 4)
        if widget["n"] and raw["n"] else None,
        "goal_s": 1.0, "meets_goal": meets(widget, 1.0),
    }


async def submit_rounds(kernel: Kernel, gateway: Gateway, cluster: ClusterWatch, rounds: int) -> dict:
    calls, visible, raw = [], Samples(), []
    cold = None
    for i in range(rounds):
        timing = await kernel.json(
            "import time as _t, json as _j\n_t0 = _t.time()\n"
            f"_job = get_ipython().run_cell_magic('fedsubmit', 'job -n submit-{i} --cluster {CLUSTER}', "
            f"{SCRIPT!r})\n_t1 = _t.time()\nprint(_j.dumps([_job.id, _t0, _t1]))")
        job_id, t0, t1 = timing
        await asyncio.sleep(0.5)
        added = cluster.added[job_id]
        if i == 0:
            cold = round(t1 - t0, 4)
        else:
            calls.append(t1 - t0)
            # the job's own objects (its pods come later, from the Job controller)
            both = {"configmap", "job"} <= set(added)
            visible.add(max(added["configmap"], added["job"]) if both else None, t0)
        started = time.time()
        raw_id = await asyncio.to_thread(bare_post, gateway, {"kind": "job", "script": SCRIPT,
                                                              "name": f"raw-{i}", "cluster": CLUSTER})
        raw.append(time.time() - started)
        for done in (job_id, raw_id):
            gateway.cancel(done)
    call, rest, seen = summary(calls), summary(raw), summary(visible)
    return {
        # the gateway answers 201 once the objects are created, so they exist when the magic returns;
        # their ADDED events arrive on a watch a little later (watch delivery included)
        "fedsubmit_call_to_objects_on_cluster_s": call,
        "fedsubmit_call_to_objects_seen_on_a_watch_s": seen,
        "first_call_in_fresh_kernel_s": cold,
        "baseline_raw_rest_post_s": rest,
        "ratio_fedsubmit_to_raw_post_median": ratio(call, rest),
        "goal_s": 0.3, "meets_goal": meets(seen, 0.3),
    }


async def main_async(args, box: Sandbox) -> dict:
    hub = prepare_hub(Path(args.state_dir) / "hub", box.dir, port=args.hub_port, extra_config=HUB_EXTRA,
                      log=lambda *_: None)
    hub.start()
    try:
        url = f"{hub.url}/services/fedspawner-gateway/"
        if not wait_http_ok(f"{url}api/v1/health", 90):
            raise SystemExit(f"the gateway did not answer at {url}")
        hub_api(hub.url, "POST", f"/users/{USER}")
        token = hub_api(hub.url, "POST", f"/users/{USER}/tokens", {"note": "benchmark"})["token"]
        gateway = Gateway(url, token)
        env = dict(os.environ, JUPYTERHUB_API_TOKEN=token, FEDSPAWNER_GATEWAY_URL=url,
                   IPYTHONDIR=tempfile.mkdtemp(prefix="fs-bench-ipython-"))
        cluster = ClusterWatch(Path(box.read_state()["kubeconfig"]))
        await cluster.start()
        try:
            async with Kernel(env) as kernel:
                await kernel.run("%load_ext fedspawner")
                submit = await submit_rounds(kernel, gateway, cluster, args.submits)
                status = await status_rounds(kernel, gateway, cluster, args.rounds)
        finally:
            await cluster.stop()
    finally:
        hub.stop()
    return {"benchmark": "status_propagation", "rounds": args.rounds, "submits": args.submits,
            "status_propagation": status, "submit": submit}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="jobs followed for status propagation")
    parser.add_argument("--submits", type=int, default=8,
                        help="submissions timed (the first is the cold one)")
    parser.add_argument("--state-dir", default=str(Path(tempfile.gettempdir()) / "fedspawner-bench-client"))
    parser.add_argument("--sandbox-dir", help="reuse the running sandbox in this state directory")
    parser.add_argument("--base-port", type=int, default=21600)
    parser.add_argument("--hub-port", type=int, default=21200)
    parser.add_argument("--keep", action="store_true", help="leave a sandbox this run started running")
    args = parser.parse_args()
    box = Sandbox(Path(args.sandbox_dir) if args.sandbox_dir else Path(args.state_dir) / "sandbox",
                  log=lambda *_: None)
    started_sandbox = not (box.read_state() and box.running_processes())
    if started_sandbox:  # outside the event loop: starting a sandbox runs one of its own
        box.up(base_port=args.base_port)
    try:
        print(json.dumps(asyncio.run(main_async(args, box)), indent=2))
    finally:
        if started_sandbox and not args.keep:
            box.down()


if __name__ == "__main__":
    main()
