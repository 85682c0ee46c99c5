"""Data locality: where workloads that read a dataset end up, and what the rule costs per decision.

On the placement benchmark's 10 clusters × 5,000 synthetic nodes, six datasets are declared on one
or two clusters each (half of them protected). For the same requests (the placement benchmark's mix,
each given a dataset), the baseline is placement without the dataset: share of first choices that
hold the dataset, share of protected-data workloads placed off their clusters (must be 0 with the
rule), and the decision cost with vs without.

Prints one JSON document. Usage: python benchmarks/data_locality_bench.py [--decisions 4000]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from placement_bench import NOW, build, make_requests, percentiles, timed  # noqa: E402

from fedspawner.federation.placement import place  # noqa: E402

DATASETS = {"cms-run3": True, "patients": True, "climate-era5": True, "imagenet": False, "laion": False,
            "genomes": False}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    snapshot, _ = build(rng)
    names = [c.name for c in snapshot.clusters]
    where = {d: rng.sample(names, rng.choice([1, 2])) for d in DATASETS}
    snapshot = dataclasses.replace(snapshot, clusters=tuple(
        dataclasses.replace(c, datasets={d: p for d, p in DATASETS.items() if c.name in where[d]})
        for c in snapshot.clusters))
    stats = {label: {"decided": 0, "on_holder": 0, "protected": 0, "protected_off": 0, "ns": []}
             for label in ("with", "baseline")}
    for _, request in make_requests(rng, args.decisions):
        dataset = rng.choice(list(DATASETS))
        for label, asked in (("with", dataclasses.replace(request, dataset=dataset)), ("baseline", request)):
            decision, took = timed(place, asked, snapshot, now=NOW)
            s = stats[label]
            s["ns"].append(took)
            if not decision.candidates:
                continue
            s["decided"] += 1
            first = decision.candidates[0].cluster
            s["on_holder"] += first in where[dataset]
            if DATASETS[dataset]:
                s["protected"] += 1
                s["protected_off"] += first not in where[dataset]
    out = {"benchmark": "data_locality", "datasets": {d: {"protected": p, "on": where[d]} for d, p in DATASETS.items()}}
    for label, s in stats.items():
        out[label] = {"decided": s["decided"], "first_choice_holds_dataset": round(s["on_holder"] / s["decided"], 3),
                      "protected_decided": s["protected"], "protected_placed_off_their_clusters": s["protected_off"],
                      "decision_cost": percentiles(s["ns"])}
    out["ratios"] = {
        "holds_dataset": round(out["with"]["first_choice_holds_dataset"]
                               / max(out["baseline"]["first_choice_holds_dataset"], 1e-9), 2),
        "cost_p50": round(out["with"]["decision_cost"]["p50_us"] / out["baseline"]["decision_cost"]["p50_us"], 2),
        "cost_p99": round(out["with"]["decision_cost"]["p99_us"] / out["baseline"]["decision_cost"]["p99_us"], 2)}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
