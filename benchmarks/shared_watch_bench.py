"""Shared-watch benchmark: 1,000 jobs over 3 clusters with 200 open followers, against per-consumer watches.

Prints one JSON document. Runs a sandbox (reused when one is running in ``--sandbox-dir``)
and a real JupyterHub with the gateway as its managed service. 1,000 jobs (an anchor
ConfigMap, a suspended Indexed Job and its rank-0 pod, held by a scheduling gate so no
process runs) are written straight to three member clusters for ten users, each with a
failover list, so the gateway's failover queue guards all of them. Then:

- ``apiserver_watches``: open WATCH requests on the three apiservers
  (``apiserver_longrunning_requests``) with the gateway idle, with 200 followers streaming
  ``/jobs/{id}/watch`` through the hub's proxy, and, as the baseline in the same run, with
  the watch sets the per-consumer design opened (one per follower and one per guarded job,
  each a list-and-watch per resource by job-id label, the guards' also of FailedCreate
  events), opened here with the gateway's own watch code;
- ``memory_mib``: the gateway's resident memory idle and with the followers, against what
  the per-consumer watch sets take in this process;
- ``list_latency_ms``: ``GET /jobs`` (a user's 100 jobs, an admin's 1,000) and the jobs feed
  through the proxy (the admin's list also straight to the gateway), served from the shared
  index, against the baseline of listing the three clusters afresh as the per-request design
  did (goal: p99 ≤ 100 ms);
- ``phase_to_client_ms``: a rank-0 pod's phase set to Running on the apiserver until the
  follower's stream shows the job Running, against a raw apiserver watch of the same pods
  (the floor) and the per-job watch of the per-consumer design (goal: p99 ≤ 1,000 ms).

Every object made is deleted at the end, also when a measurement fails.

Usage: python benchmarks/shared_watch_bench.py [--sandbox-dir DIR] [--base-port P] [--hub-port P]
                                               [--jobs N] [--followers N] [--rounds N] [--changes N]
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import aiohttp
from kubernetes_asyncio import client, config

from fedspawner.demo.hub_config import GATEWAY, GATEWAY_PORT_OFFSET
from fedspawner.federation.watch import ResourceWatch
from fedspawner.gateway import kube
from fedspawner.gateway.discovery import BackendDiscovery
from fedspawner.gateway.identity import JobRecord, anchor_patch, new_job_id, object_name
from fedspawner.jobs import JobSpec, RenderTarget
from fedspawner.jobs.labels import LABEL_MANAGED_BY, MANAGED_BY, job_selector
from fedspawner.jobs.render import render

sys.path.insert(0, str(Path(__file__).parent))
from gateway_bench import ADMIN_TOKEN, hub_bench_parser, run_on_hub, user_tokens, wait_healthy  # noqa: E402

STATE = Path(tempfile.gettempdir()) / "fedspawner-shared-watch-bench"
CLUSTERS = ("onprem", "regional", "burst")
USERS = [f"watcher{i}" for i in range(10)]
BENCH_LABEL = "fedspawner.dev/bench"
SPEC = JobSpec.from_dict({"kind": "job", "script": "print('never runs')\n", "name": "watched"})
MANAGED = kube.selector({LABEL_MANAGED_BY: MANAGED_BY})
OURS = kube.selector({BENCH_LABEL: "shared-watch"})


def percentiles(values: list[float]) -> dict:
    ordered = sorted(values)
    if not ordered:
        return {"n": 0}

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)

    return {"n": len(ordered), "p50": at(0.5), "p95": at(0.95), "p99": at(0.99), "max": round(ordered[-1], 1)}


def ratio(a: dict, b: dict, key: str = "p99") -> float | None:
    return round(a[key] / b[key], 2) if a.get(key) and b.get(key) else None


def progress(*what) -> None:
    print("shared_watch_bench:", *what, file=sys.stderr, flush=True)


def rss_mib(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


# ---- the jobs --------------------------------------------------------------------------------
def job_objects(namespace: str, owner: str, others: tuple[str, ...]) -> tuple[str, list[dict]]:
    """A job's anchor, suspended Job and gated rank-0 pod, as the gateway would have made them."""
    job_id = new_job_id()
    named = JobSpec.from_dict({**SPEC.to_dict(), "name": object_name(SPEC.name, job_id)})
    anchor, workload = render(named, RenderTarget(namespace=namespace, job_id=job_id, owner=owner,
                                                  backend="indexed-job"))[:2]
    record = replace(JobRecord.for_spec(SPEC, None, frozenset(), True), failover=others)
    anchor_patch([anchor, workload], record, SPEC)
    workload["spec"]["suspend"] = True
    template = workload["spec"]["template"]
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {**template["metadata"], "name": f"{workload['metadata']['name']}-0",
                        "namespace": namespace,
                        "annotations": {**template["metadata"].get("annotations", {}),
                                        "batch.kubernetes.io/job-completion-index": "0"}},
           "spec": {**template["spec"], "schedulingGates": [{"name": "fedspawner.dev/bench"}]}}
    for obj in (anchor, workload, pod):
        obj["metadata"]["labels"] = {**obj["metadata"].get("labels", {}), BENCH_LABEL: "shared-watch"}
    return job_id, [anchor, workload, pod]


async def create_jobs(apis: dict, namespace: str, count: int) -> list[dict]:
    """``count`` jobs round-robin over the clusters and users: ``{"id", "cluster", "owner", "pod"}``."""
    gate = asyncio.Semaphore(24)
    made = []

    async def one(n: int) -> None:
        cluster, owner = CLUSTERS[n % len(CLUSTERS)], USERS[n % len(USERS)]
        job_id, objects = job_objects(namespace, owner, tuple(c for c in CLUSTERS if c != cluster))
        async with gate:
            for obj in objects:
                await kube.create(apis[cluster], obj)
        made.append({"id": job_id, "cluster": cluster, "owner": owner, "pod": objects[2]["metadata"]["name"]})

    await asyncio.gather(*(one(n) for n in range(count)))
    return made


async def remove_jobs(apis: dict, namespace: str) -> None:
    for api in apis.values():
        for res in (kube.PODS, kube.JOBS, kube.CONFIGMAPS):
            await kube.request(api, "DELETE", res.path(namespace), query={"labelSelector": OURS},
                               body={"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background",
                                     "gracePeriodSeconds": 0}, timeout=120)


# ---- what the apiservers see -----------------------------------------------------------------
async def watch_count(apis: dict) -> int:
    """Open WATCH requests on every cluster's apiserver, all components together."""
    total = 0
    for api in apis.values():
        resp = await kube.open_stream(api, "GET", "/metrics", accept="text/plain", timeout=30)
        try:
            text = (await resp.read()).decode()
        finally:
            resp.release()
        for line in text.splitlines():
            if line.startswith("apiserver_longrunning_requests{") and 'verb="WATCH"' in line:
                total += int(float(line.rsplit(" ", 1)[1]))
    return total


async def settled_watch_count(apis: dict, seconds: float = 2.0) -> int:
    await asyncio.sleep(seconds)
    return await watch_count(apis)


# ---- the gateway's side ----------------------------------------------------------------------
class Follower:
    """One open ``/jobs/{id}/watch`` stream; ``running_at`` is when it first showed Running."""

    def __init__(self, session, base: str, job: dict, token: str):
        self.session, self.url, self.token, self.job = session, f"{base}jobs/{job['id']}/watch", token, job
        self.first = asyncio.Event()
        self.running_at: float | None = None
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async with self.session.get(self.url, headers={"Authorization": f"token {self.token}"},
                                    timeout=aiohttp.ClientTimeout(total=None, sock_read=None)) as resp:
            async for line in resp.content:
                if not line.strip():
                    continue
                view = json.loads(line).get("job")
                if view is not None:
                    self.first.set()
                    if view["phase"] == "Running" and self.running_at is None:
                        self.running_at = time.monotonic()


async def timed_get(session, url: str, token: str) -> tuple[float, dict]:
    began = time.perf_counter()
    async with session.get(url, headers={"Authorization": f"token {token}"}) as resp:
        answer = await resp.json(content_type=None)
        assert resp.status == 200, answer
    return (time.perf_counter() - began) * 1000, answer


async def until_listed(session, base: str, count: int, timeout: float = 300) -> float:
    """Seconds until the admin's jobs feed shows ``count`` jobs."""
    began = time.monotonic()
    while True:
        _, answer = await timed_get(session, f"{base}jobs/feed?all=1", ADMIN_TOKEN)
        if len(answer["jobs"]) >= count:
            return round(time.monotonic() - began, 1)
        if time.monotonic() - began > timeout:
            raise SystemExit(f"the gateway listed {len(answer['jobs'])} of {count} jobs after {timeout}s")
        await asyncio.sleep(1)


async def list_latency(session, base: str, straight: str, tokens: dict, rounds: int) -> dict:
    user = tokens[USERS[0]]
    views = {"user_jobs_100": (f"{base}jobs", user), "admin_jobs_1000": (f"{base}jobs?all=1", ADMIN_TOKEN),
             "user_feed_100": (f"{base}jobs/feed", user), "admin_feed_1000": (f"{base}jobs/feed?all=1", ADMIN_TOKEN),
             "admin_jobs_1000_straight_to_gateway": (f"{straight}jobs?all=1", ADMIN_TOKEN)}
    found = {}
    for name, (url, token) in views.items():
        times = [(await timed_get(session, url, token))[0] for _ in range(rounds + 2)][2:]
        found[name] = percentiles(times)
    return found


async def fresh_list_baseline(apis: dict, namespace: str, rounds: int) -> dict:
    """Every job's objects listed afresh from the three clusters at once, as each list request did."""
    async def once() -> float:
        began = time.perf_counter()
        await asyncio.gather(*(kube.list_objects(api, res, namespace, MANAGED, timeout=60,
                                                 metadata_only=res is kube.CONFIGMAPS)
                               for api in apis.values() for res in (kube.CONFIGMAPS, kube.PODS, kube.JOBS)))
        return (time.perf_counter() - began) * 1000

    return percentiles([await once() for _ in range(rounds + 2)][2:])


# ---- phase changes ---------------------------------------------------------------------------
class PhaseClock:
    """When each pod first showed Running to a raw apiserver watch of every job pod (the floor)."""

    def __init__(self, apis: dict, namespace: str):
        self.seen: dict[str, float] = {}
        self.watches = [ResourceWatch(kube.lister(api, kube.PODS, namespace), label_selector=OURS,
                                      on_change=self._on_change, name=f"{name}/pods/clock")
                        for name, api in apis.items()]
        self.tasks = [asyncio.create_task(w.run()) for w in self.watches]

    def _on_change(self, kind: str, obj: dict) -> None:
        if kind == "MODIFIED" and (obj.get("status") or {}).get("phase") == "Running":
            self.seen.setdefault(obj["metadata"]["name"], time.monotonic())

    async def synced(self) -> None:
        await asyncio.gather(*(w.synced.wait() for w in self.watches))

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def set_running(api, namespace: str, pod: str) -> float:
    """Set the pod's phase to Running; the time just before asking."""
    began = time.monotonic()
    await kube.request(api, "PATCH", kube.PODS.path(namespace, pod, "status"),
                       body={"status": {"phase": "Running"}}, content_type="application/merge-patch+json")
    return began


async def arrivals(changed: list[tuple[str, float]], seen, timeout: float = 10) -> list[float]:
    """Milliseconds from each change to ``seen(pod)`` (None until seen), waiting up to ``timeout``."""
    deadline = time.monotonic() + timeout
    while any(seen(pod) is None for pod, _ in changed) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return [((seen(pod) or float("inf")) - at) * 1000 for pod, at in changed]


# ---- the per-consumer design (baseline) ------------------------------------------------------
class PerConsumerWatches:
    """One list-and-watch per resource by job-id label for each consumer (``events``: also the
    job's FailedCreate events, as a failover guard had), with the gateway's own watch code."""

    def __init__(self, apis: dict, resources: dict, namespace: str):
        self.apis, self.resources, self.namespace = apis, resources, namespace
        self.watches: list[ResourceWatch] = []
        self.running: dict[str, float] = {}

    def open(self, job: dict, events: bool) -> None:
        api, selector = self.apis[job["cluster"]], kube.selector(job_selector(job["id"]))
        for res in self.resources[job["cluster"]]:
            on_change = self._on_change if res is kube.PODS else None
            self.watches.append(ResourceWatch(kube.lister(api, res, self.namespace), label_selector=selector,
                                              on_change=on_change, name=f"{job['id']}/{res.plural}"))
        if events:
            self.watches.append(ResourceWatch(kube.lister(api, kube.EVENTS, self.namespace),
                                              field_selector="reason=FailedCreate", name=f"{job['id']}/events"))

    def _on_change(self, kind: str, obj: dict) -> None:
        if kind == "MODIFIED" and (obj.get("status") or {}).get("phase") == "Running":
            self.running.setdefault(obj["metadata"]["name"], time.monotonic())

    async def run(self, timeout: float) -> dict:
        """Start every watch: seconds until all have listed (None: not within ``timeout``), and how
        many had."""
        began = time.monotonic()
        self.tasks = [asyncio.create_task(w.run()) for w in self.watches]
        try:
            await asyncio.wait_for(asyncio.gather(*(w.synced.wait() for w in self.watches)), timeout)
            took = round(time.monotonic() - began, 1)
        except asyncio.TimeoutError:
            took = None
        return {"sync_s": took, "synced": sum(w.synced.is_set() for w in self.watches),
                "watches": len(self.watches)}

    async def stop(self) -> None:
        for task in getattr(self, "tasks", []):
            task.cancel()
        await asyncio.gather(*getattr(self, "tasks", []), return_exceptions=True)


async def admin_clients(kubeconfig: str, pool: int = 100) -> dict:
    """Cluster-admin clients of the three clusters with ``pool`` connections each (100 is the
    kubernetes client's default, which the gateway's clients have)."""
    apis = {}
    for name in CLUSTERS:
        cfg = client.Configuration()
        await config.load_kube_config(config_file=kubeconfig, context=f"{name}-admin", client_configuration=cfg,
                                      persist_config=False)
        cfg.connection_pool_maxsize = pool
        apis[name] = client.ApiClient(configuration=cfg)
    return apis


async def per_consumer(kubeconfig: str, namespace: str, resources: dict, followed: list, jobs: list,
                       pool: int, timeout: float) -> PerConsumerWatches:
    """The per-consumer design's watch sets, opened and started: one per follower, one per guard."""
    old = PerConsumerWatches(await admin_clients(kubeconfig, pool=pool), resources, namespace)
    for job in followed:
        old.open(job, events=False)
    for job in jobs:
        old.open(job, events=True)
    old.started = await old.run(timeout)
    return old


async def close(old: PerConsumerWatches) -> None:
    await old.stop()
    await asyncio.gather(*(api.close() for api in old.apis.values()))


async def served_resources(apis: dict) -> dict:
    discovery = BackendDiscovery(apis.__getitem__)
    found = {}
    for name in apis:
        served = await discovery.served(name)
        found[name] = [kube.CONFIGMAPS, kube.PODS, kube.JOBS, *(r for r in kube.WORKLOAD_CUSTOM if r.crd in served)]
    return found


# ---- the run ---------------------------------------------------------------------------------
async def measure(args, sandbox_state: dict, hub_url: str) -> dict:
    namespace, kubeconfig = sandbox_state["namespace"], sandbox_state["kubeconfig"]
    base = f"{hub_url}/services/{GATEWAY}/api/v1/"
    gateway_pid = int((args.sandbox_dir.parent / "hub" / "gateway.pid").read_text())
    await wait_healthy(base)
    apis = await admin_clients(kubeconfig)
    report: dict = {"jobs": args.jobs, "clusters": list(CLUSTERS), "followers": args.followers}
    followers: list[Follower] = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        try:
            tokens = await user_tokens(session, hub_url, USERS)
            idle = {"watches": await settled_watch_count(apis, 0.5), "gateway_mib": rss_mib(gateway_pid)}
            began = time.monotonic()
            jobs = await create_jobs(apis, namespace, args.jobs)
            report["create_s"] = round(time.monotonic() - began, 1)
            report["listed_by_gateway_s"] = await until_listed(session, base, args.jobs)
            progress(f"{args.jobs} jobs made in {report['create_s']} s, listed by the gateway after "
                     f"{report['listed_by_gateway_s']} s")
            loaded = {"watches": await settled_watch_count(apis), "gateway_mib": rss_mib(gateway_pid)}

            followed = jobs[:args.followers]
            followers = [Follower(session, base, job, tokens[job["owner"]]) for job in followed]
            await asyncio.wait_for(asyncio.gather(*(f.first.wait() for f in followers)), 120)
            following = {"watches": await settled_watch_count(apis), "gateway_mib": rss_mib(gateway_pid)}
            progress(f"{len(followers)} followers streaming")

            straight = f"http://127.0.0.1:{args.hub_port + GATEWAY_PORT_OFFSET}/services/{GATEWAY}/api/v1/"
            report["list_latency_ms"] = {**await list_latency(session, base, straight, tokens, args.rounds),
                                         "baseline_fresh_lists_1000": await fresh_list_baseline(
                                             apis, namespace, args.rounds)}
            lists = report["list_latency_ms"]
            progress("lists timed")
            lists["ratio_p99_admin_jobs_vs_baseline"] = ratio(lists["admin_jobs_1000"],
                                                              lists["baseline_fresh_lists_1000"])
            lists["goal_p99_ms"] = 100
            timed = ("user_jobs_100", "admin_jobs_1000", "user_feed_100", "admin_feed_1000")
            lists["goal_met"] = all(lists[k]["p99"] <= 100 for k in timed)

            # the per-consumer design, in the same run: its watch sets opened beside the gateway, first
            # with the client's default pool of 100 connections per cluster (as the gateway's clients),
            # where watches beyond the pool wait for a connection that never frees up
            resources = await served_resources(apis)
            stalled = await per_consumer(kubeconfig, namespace, resources, followed, jobs, pool=100, timeout=30)
            await close(stalled)
            progress("per-consumer watches, pool 100:", stalled.started)
            before = rss_mib()
            old = await per_consumer(kubeconfig, namespace, resources, followed, jobs, pool=20000, timeout=900)
            progress("per-consumer watches, pool 20000:", old.started)
            per_consumer_now = {"watches": await settled_watch_count(apis) - following["watches"],
                                "mib": round(rss_mib() - before, 1), "watch_sets": len(followed) + len(jobs)}

            clock = PhaseClock(apis, namespace)
            await clock.synced()
            changed = []
            for follower in followers[:args.changes]:
                job = follower.job
                changed.append((job["pod"], await set_running(apis[job["cluster"]], namespace, job["pod"])))
                await asyncio.sleep(0.1)
            by_pod = {f.job["pod"]: f for f in followers}
            gateway_ms = await arrivals(changed, lambda pod: by_pod[pod].running_at)
            raw_ms = await arrivals(changed, clock.seen.get)
            old_ms = await arrivals(changed, old.running.get)
            await clock.stop()
            await close(old)
            gateway_p, raw_p, old_p = percentiles(gateway_ms), percentiles(raw_ms), percentiles(old_ms)
            report["phase_to_client_ms"] = {
                "gateway_stream_via_proxy": gateway_p, "baseline_raw_watch": raw_p,
                "per_consumer_job_watch": old_p, "ratio_p99_gateway_vs_raw_watch": ratio(gateway_p, raw_p),
                "missed": sum(1 for ms in gateway_ms if ms == float("inf")),
                "goal_p99_ms": 1000, "goal_met": gateway_p.get("p99", 1e9) <= 1000}

            shared_added = following["watches"] - idle["watches"]
            report["apiserver_watches"] = {
                "gateway_idle_before_jobs": idle["watches"], "with_1000_jobs": loaded["watches"],
                "with_followers": following["watches"],
                "gateway_index_watches_on_these_clusters": sum(len(r) + 1 for r in resources.values()),
                "added_by_jobs_and_followers_shared": shared_added,
                "added_by_jobs_and_followers_per_consumer": per_consumer_now["watches"],
                "per_consumer_watch_sets": per_consumer_now["watch_sets"],
                "per_consumer_start_pool_20000": old.started,
                "per_consumer_start_default_pool_100": stalled.started,
                "ratio_shared_vs_per_consumer": round(max(shared_added, 0) / max(per_consumer_now["watches"], 1), 4)}
            report["memory_mib"] = {
                "gateway_idle_before_jobs": idle["gateway_mib"], "gateway_with_1000_jobs": loaded["gateway_mib"],
                "gateway_with_followers": following["gateway_mib"],
                "gateway_added_by_followers": round(following["gateway_mib"] - loaded["gateway_mib"], 1),
                "per_consumer_watch_sets": per_consumer_now["mib"],
                "ratio_followers_shared_vs_per_consumer": round(
                    max(following["gateway_mib"] - loaded["gateway_mib"], 0) / max(per_consumer_now["mib"], 0.1), 3)}
        finally:
            for follower in followers:
                follower.task.cancel()
            await asyncio.gather(*(f.task for f in followers), return_exceptions=True)
            await remove_jobs(apis, namespace)
            await asyncio.gather(*(api.close() for api in apis.values()))
    return report


def main() -> None:
    parser = hub_bench_parser(__doc__, STATE, 22400, 22000)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--followers", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=200, help="requests per list measurement")
    parser.add_argument("--changes", type=int, default=50, help="phase changes timed")
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the baseline holds thousands of watches
    print(json.dumps(run_on_hub(args, measure), indent=2))


if __name__ == "__main__":
    main()
