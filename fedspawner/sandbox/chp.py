"""configurable-http-proxy from the npm registry, cached: the demo hub's proxy, and what
the sandbox runs for the ``configurable-http-proxy`` image (the z2jh chart's proxy pod)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from .binaries import BuildError, cache_root

CHP_VERSION = "5.3.0"


def chp_bin_dir() -> Path:
    """The directory holding the cached ``configurable-http-proxy`` program."""
    return cache_root() / f"chp-{CHP_VERSION}" / "node_modules" / ".bin"


def ensure_chp(log=print) -> Path:
    """Install configurable-http-proxy from the npm registry into the cache (once)."""
    binary = chp_bin_dir() / "configurable-http-proxy"
    if binary.exists():
        return binary
    prefix = chp_bin_dir().parent.parent
    npm = shutil.which("npm")
    if not npm:
        raise BuildError("npm is needed to install configurable-http-proxy; install Node.js 18 or newer")
    log(f"installing configurable-http-proxy {CHP_VERSION} into {prefix} (first run only)")
    prefix.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--prefix", str(prefix),
                           f"configurable-http-proxy@{CHP_VERSION}"], capture_output=True, text=True)
    if proc.returncode != 0:
        raise BuildError(f"npm install configurable-http-proxy failed:\n{proc.stderr[-2000:]}")
    return binary
