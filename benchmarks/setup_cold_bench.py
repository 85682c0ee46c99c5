"""Cold set-up cost: how long each of ``make test``'s set-up components takes with empty caches.

Each component runs in its own child process with a fresh ``HOME`` (so the Go module and build
caches, pip's and npm's caches start empty) and a fresh ``FEDSPAWNER_CACHE``: nothing built or
downloaded before is reused, and the caches of this machine are left alone. Components run one
after another within a lane; lanes run side by side (by default the CPU-bound Go builds in one
lane, the network-bound downloads in the other, so that the two kinds barely disturb each other).
On a shared machine the figures are upper bounds.

Baseline in the same run: each component again with its caches warm (the rerun a developer
pays), which must stay seconds.

Prints one JSON document. Usage:
    python benchmarks/setup_cold_bench.py [--lanes kubebin,kwok,helm,operators-kubeflow,operators-spark,operators-kueue
                                           --lanes venv,labextension,workload,jax,chp] [--scratch DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

#: component -> the code that builds it (run with this interpreter, which imports fedspawner)
PY_COMPONENTS = {
    "kubebin": "from fedspawner.sandbox.binaries import ensure_kubebin; ensure_kubebin()",
    "kwok": "from fedspawner.sandbox.binaries import ensure_kwok; ensure_kwok()",
    "bindshim": "from fedspawner.sandbox.binaries import ensure_bindshim; ensure_bindshim()",
    "operators-kubeflow": "from fedspawner.sandbox.operators.build import ensure_operators; "
                          "ensure_operators(['jobset', 'trainer'])",
    # with its own empty Go cache: an upper bound (make test reuses what JobSet and Trainer compiled)
    "operators-kueue": "from fedspawner.sandbox.operators.build import ensure_operators; "
                       "ensure_operators(['kueue'])",
    "operators-spark": "from fedspawner.sandbox.operators.build import ensure_operators; "
                       "ensure_operators(['spark-operator'])",
    "helm": "from fedspawner.deploy.helm import ensure_helm; ensure_helm()",
    "workload": "from fedspawner.sandbox.workload import ensure_workload_env; ensure_workload_env()",
    "jax": "from fedspawner.sandbox.workload import ensure_jax_env; ensure_jax_env()",
    "chp": "from fedspawner.sandbox.chp import ensure_chp; ensure_chp()",
}
#: components that run in a clone of the repository: the virtualenv, then the Lab extension in it
CLONE_COMPONENTS = {
    "venv": ["make", "--no-print-directory", ".venv/.installed-{hash}"],
    "labextension": ["make", "--no-print-directory", "labextension"],
}
DEFAULT_LANES = ["kubebin,kwok,bindshim,helm,operators-kubeflow,operators-spark,operators-kueue",
                 "venv,labextension,workload,jax,chp"]


def _env(home: Path, cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GO", "PIP_CACHE", "npm_config_cache", "XDG_", "FEDSPAWNER_CACHE"))}
    env.update(HOME=str(home), FEDSPAWNER_CACHE=str(cache))
    # the machine's own Go settings (in the real HOME's go env file) still apply
    env.update(GOFLAGS="-buildvcs=false")
    return env


def _argv(name: str, clone: Path) -> tuple[list[str], Path]:
    if name in PY_COMPONENTS:
        return [sys.executable, "-c", PY_COMPONENTS[name]], REPO
    pyproject_hash = subprocess.run(["sha1sum", "pyproject.toml"], cwd=clone, capture_output=True,
                                    text=True, check=True).stdout[:12]
    return [a.format(hash=pyproject_hash) for a in CLONE_COMPONENTS[name]], clone


def _run(name: str, scratch: Path, clone: Path, results: dict) -> None:
    home, cache = scratch / f"home-{name}", scratch / "cache"
    home.mkdir(parents=True, exist_ok=True)
    cache.mkdir(parents=True, exist_ok=True)
    argv, cwd = _argv(name, clone)
    figures = {}
    for phase in ("cold", "warm"):
        started = time.monotonic()
        proc = subprocess.run(argv, cwd=cwd, env=_env(home, cache), capture_output=True, text=True)
        figures[f"{phase}_seconds"] = round(time.monotonic() - started, 1)
        if proc.returncode != 0:
            figures["error"] = (proc.stdout + proc.stderr)[-1500:]
            break
    results[name] = figures
    print(json.dumps({name: figures}), file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lanes", action="append", help="comma-separated components run one after another")
    parser.add_argument("--scratch", type=Path, default=None, help="where the empty caches go (removed after)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = parser.parse_args()
    lanes = [lane.split(",") for lane in (args.lanes or DEFAULT_LANES)]
    unknown = [c for lane in lanes for c in lane if c not in PY_COMPONENTS and c not in CLONE_COMPONENTS]
    if unknown:
        parser.error(f"unknown components {unknown}; known: {sorted({*PY_COMPONENTS, *CLONE_COMPONENTS})}")
    scratch = Path(tempfile.mkdtemp(prefix="fedspawner-cold-", dir=args.scratch))
    clone = scratch / "clone"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
    results: dict[str, dict] = {}
    lane_seconds = []

    def lane_runner(lane: list[str]) -> None:
        started = time.monotonic()
        for name in lane:
            _run(name, scratch, clone, results)
        lane_seconds.append({"lane": lane, "seconds": round(time.monotonic() - started, 1)})

    started = time.monotonic()
    threads = [threading.Thread(target=lane_runner, args=(lane,)) for lane in lanes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps({"components": results, "lanes": lane_seconds,
                      "wall_seconds": round(time.monotonic() - started, 1),
                      "cpus": os.cpu_count(), "load_average_1min": os.getloadavg()[0]}, indent=1))
    if not args.keep:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
