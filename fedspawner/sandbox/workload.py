"""The workload environment: the local Python environment that stands in for training
and Spark images in the sandbox (PyTorch and PySpark from PyPI).

PyTorch from PyPI is the CUDA build (about 3 GB with its dependencies), so it is never
a dependency of fedspawner itself: it is installed once into a cached virtualenv,
keyed by version, and the sandbox maps job images (``pytorch/*``, ``spark*``) to it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ..builds import BuildError, cache_root

TORCH_VERSION = "2.15.0"
PYSPARK_VERSION = "4.3.0"
PACKAGES = [f"torch=={TORCH_VERSION}", "numpy", f"pyspark=={PYSPARK_VERSION}"]


def workload_env_dir() -> Path:
    return cache_root() / "envs" / f"workload-torch{TORCH_VERSION}-pyspark{PYSPARK_VERSION}"


def ensure_workload_env(log=print) -> Path:
    """Create the workload virtualenv once; returns its prefix."""
    prefix = workload_env_dir()
    ready = prefix / ".complete"
    if ready.exists():
        return prefix
    log(f"installing PyTorch {TORCH_VERSION} and PySpark {PYSPARK_VERSION} into {prefix} "
        "(first run only; about 3 GB from PyPI)")
    if not (prefix / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(prefix)], check=True)
    proc = subprocess.run([str(prefix / "bin" / "python"), "-m", "pip", "install", "--quiet", *PACKAGES],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise BuildError(f"installing the workload environment failed:\n{proc.stderr[-2000:]}")
    ready.touch()
    return prefix
