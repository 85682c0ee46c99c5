"""In-process benchmark of the admin's list of 1,000 jobs, as the gateway computes it from its index.

No sandbox or hub: 1,000 jobs (anchor, suspended Indexed Job and rank-0 pod each, rendered as
``shared_watch_bench`` makes them) are put into a ``JobIndex`` as its watches would, over three
clusters; then ``GET /jobs?all=1``'s work is timed: the index's job copies, their views, the
sort, and (as the baseline the handler adds) the JSON encoding of the answer. Prints one JSON
document with median / p90 / p99 in ms.

Usage: python benchmarks/index_list_bench.py [--jobs 1000] [--rounds 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from fedspawner.federation.model import InventorySnapshot  # noqa: E402
from fedspawner.federation.watch import ResourceWatch  # noqa: E402
from fedspawner.gateway import kube  # noqa: E402
from fedspawner.gateway.index import JobIndex  # noqa: E402
from fedspawner.gateway.views import gpu_naming  # noqa: E402
from shared_watch_bench import CLUSTERS, USERS, job_objects  # noqa: E402


def filled_index(count: int) -> JobIndex:
    """An index whose watches have listed ``count`` jobs, round-robin over clusters and users."""
    registry = SimpleNamespace(members={}, inventories={})
    store = SimpleNamespace(namespace=lambda _: "fedspawner", healthy=lambda: (list(CLUSTERS), []))
    index = JobIndex(registry, store)
    for cluster in CLUSTERS:
        listed = ResourceWatch(None)
        listed.synced.set()
        index.watches[cluster], index.events[cluster] = [(kube.PODS, listed)], listed
    version = 0
    for n in range(count):
        cluster = CLUSTERS[n % len(CLUSTERS)]
        _, objects = job_objects("fedspawner", USERS[n % len(USERS)], ())
        for obj in objects:
            version += 1
            obj["metadata"].update(resourceVersion=str(version), creationTimestamp="2026-01-01T00:00:00Z")
            obj.pop("data", None)  # the index holds the anchor's metadata only
            index._on_change(cluster, kube.BY_KIND[obj["kind"]], listed, "ADDED", obj)
    return index


def percentiles(values: list[float]) -> dict:
    values = sorted(values)
    return {q: round(values[min(len(values) - 1, int(p * len(values)))] * 1000, 2)
            for q, p in (("median", 0.5), ("p90", 0.9), ("p99", 0.99))}


async def measure(count: int, rounds: int) -> dict:
    index = filled_index(count)
    snapshot = InventorySnapshot(clusters=())

    def listing() -> list[dict]:
        jobs, _ = index.jobs(None)
        naming = gpu_naming(snapshot)
        views = [index.views.view(job, snapshot, naming) for job in jobs]
        return sorted(views, key=lambda v: (v["created"] or "", v["id"]), reverse=True)

    listing()  # the first list computes every view
    computed, encoded = [], []
    for _ in range(rounds):
        began = time.perf_counter()
        views = listing()
        computed.append(time.perf_counter() - began)
        json.dumps({"jobs": views, "unavailable": []})
        encoded.append(time.perf_counter() - began)
    return {"benchmark": "index_list", "jobs": count, "rounds": rounds,
            "list_without_encoding_ms": percentiles(computed), "list_with_json_encoding_ms": percentiles(encoded)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(measure(args.jobs, args.rounds)), indent=2))


if __name__ == "__main__":
    main()
