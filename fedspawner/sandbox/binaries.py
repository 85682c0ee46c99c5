"""Build (once) and locate the sandbox's binaries.

Everything is built from the package registries: the Kubernetes control plane, etcd
and the node agent from the Go module proxy (one multi-call binary, ``kubebin``),
kwok from its module, and the bind shim with the C compiler. Results are cached
under ``~/.cache/fedspawner`` keyed by version and source hash, so a rebuild happens
only when something changed.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ..builds import BuildError, cache_root

KUBERNETES_VERSION = "1.34.4"
KWOK_VERSION = "v0.7.0"


@dataclass(frozen=True)
class Binaries:
    kubebin: Path
    kwok: Path
    bindshim: Path


def sources_dir() -> Path:
    """The sandbox sources: in a source checkout, or shipped inside the wheel."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "sources", here.parent.parent / "sandbox"):
        if (candidate / "kubebin" / "go.mod").is_file():
            return candidate
    raise BuildError("the sandbox sources (kubebin/go.mod) are missing from this installation; "
                     "reinstall jupyterhub-fedspawner or run from a source checkout")


def _digest(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:12]


def _run(argv: list[str], cwd: Path, env: dict[str, str], what: str) -> None:
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
        raise BuildError(f"building {what} failed ({' '.join(argv)}):\n{tail}")


def _require(tool: str, hint: str) -> str:
    path = shutil.which(tool)
    if not path:
        raise BuildError(f"{tool} is needed to build the sandbox but is not on PATH; {hint}")
    return path


def _go_env() -> dict[str, str]:
    env = dict(os.environ, CGO_ENABLED="0", GOFLAGS="-mod=mod")
    env.setdefault("GOTOOLCHAIN", "auto")  # fetch a newer toolchain from the proxy if go.mod asks
    return env


def _build_kubebin(src: Path, dest: Path) -> None:
    go = _require("go", "install Go 1.24 or newer")
    pkg = "k8s.io/component-base/version"
    minor = KUBERNETES_VERSION.split(".")[1]
    ldflags = " ".join([
        "-s", "-w",
        f"-X {pkg}.gitVersion=v{KUBERNETES_VERSION}", f"-X {pkg}.gitMajor=1", f"-X {pkg}.gitMinor={minor}",
        f"-X {pkg}.gitTreeState=clean",
        f"-X k8s.io/client-go/pkg/version.gitVersion=v{KUBERNETES_VERSION}",
    ])
    _run([go, "build", "-trimpath", f"-ldflags={ldflags}", "-o", str(dest), "."], src, _go_env(),
         f"the Kubernetes {KUBERNETES_VERSION} control plane")


def _build_kwok(dest: Path) -> None:
    go = _require("go", "install Go 1.24 or newer")
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(_go_env(), GOBIN=tmp)
        _run([go, "install", "-trimpath", "-ldflags=-s -w", f"sigs.k8s.io/kwok/cmd/kwok@{KWOK_VERSION}"],
             Path(tmp), env, f"kwok {KWOK_VERSION}")
        shutil.move(os.path.join(tmp, "kwok"), dest)


def _build_bindshim(src: Path, dest: Path) -> None:
    cc = _require(os.environ.get("CC", "gcc"), "install gcc (Debian: apt-get install gcc)")
    _run([cc, "-shared", "-fPIC", "-O2", "-Wall", "-o", str(dest), str(src), "-ldl"], src.parent, dict(os.environ),
         "the bind shim")


#: Builds of another source version are removed once unused this long. Several checkouts
#: (branches) may share one cache, each with its own sources: pruning at once would delete
#: the binary of a sandbox another checkout is running.
STALE_BUILD_SECONDS = 3 * 24 * 3600


def _cached(path: Path, build, log) -> Path:
    """Build ``path`` unless cached; builds of other versions unused for days are removed."""
    if path.exists():
        os.utime(path.parent)  # marks the build as in use
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    log(f"building {path.name} into {path.parent} (first run only)")
    tmp = path.with_name(path.name + ".partial")
    build(tmp)
    tmp.rename(path)
    family = path.parent.name.split("-")[0]
    now = time.time()
    for old in path.parent.parent.glob(f"{family}-*"):
        if old != path.parent and old.is_dir() and now - old.stat().st_mtime > STALE_BUILD_SECONDS:
            shutil.rmtree(old, ignore_errors=True)
    return path


def _locked(path: Path, build, log) -> Path:
    """``_cached`` under a lock of its own: builds of different binaries run side by side,
    two processes wanting the same one build it once."""
    root = path.parent.parent
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".build-{path.parent.name.split('-')[0]}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _cached(path, build, log)


def ensure_kubebin(log=print) -> Path:
    """The Kubernetes control plane, etcd and node agent (one Go binary), built once per source."""
    src = sources_dir() / "kubebin"
    go_sources = [p for p in src.glob("*.go") if not p.name.endswith("_test.go")] + [src / "go.mod", src / "go.sum"]
    return _locked(cache_root() / f"kubebin-{KUBERNETES_VERSION}-{_digest(go_sources)}" / "kubebin",
                   lambda dest: _build_kubebin(src, dest), log)


def kwok_path() -> Path:
    """Where kwok's build is cached."""
    return cache_root() / f"kwok-{KWOK_VERSION}" / "kwok"


def ensure_kwok(log=print) -> Path:
    """kwok, built once per version."""
    return _locked(kwok_path(), _build_kwok, log)


def ensure_bindshim(log=print) -> Path:
    """The bind shim (C), built once per source."""
    shim_src = sources_dir() / "preload" / "bindshim.c"
    return _locked(cache_root() / f"bindshim-{_digest([shim_src])}" / "bindshim.so",
                   lambda dest: _build_bindshim(shim_src, dest), log)


def ensure_binaries(log=print, kwok: bool = True) -> Binaries:
    """Return the sandbox binaries, building whatever is missing from the cache; kwok only if
    ``kwok`` (a topology without simulated nodes does not run it: its path is then given as is)."""
    return Binaries(kubebin=ensure_kubebin(log), kwok=ensure_kwok(log) if kwok else kwok_path(),
                    bindshim=ensure_bindshim(log))
