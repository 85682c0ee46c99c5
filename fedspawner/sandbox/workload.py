"""The workload environments: local Python environments that stand in for training and
Spark images in the sandbox (PyTorch and PySpark from PyPI; JAX for ``*jax*`` images).

PyTorch from PyPI is the CUDA build (about 3 GB with its dependencies), so it is never
a dependency of fedspawner itself: it is installed once into a cached virtualenv,
keyed by version, and the sandbox maps job images (``pytorch/*``, ``spark*``) to it.
JAX (CPU build, about 100 MB) gets a small environment of its own, keyed by its version,
so that adding it never invalidates the large one.
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


JAX_VERSION = "0.10.2"
JAX_PACKAGES = [f"jax[cpu]=={JAX_VERSION}", "numpy"]


def jax_env_dir() -> Path:
    return cache_root() / "envs" / f"jax{JAX_VERSION}"


def ensure_workload_env(log=print) -> Path:
    """Create the PyTorch + PySpark virtualenv once; returns its prefix."""
    return _ensure_env(workload_env_dir(), PACKAGES, f"PyTorch {TORCH_VERSION} and PySpark {PYSPARK_VERSION}",
                       "about 3 GB", log)


def ensure_jax_env(log=print) -> Path:
    """Create the JAX (CPU) virtualenv once; returns its prefix."""
    return _ensure_env(jax_env_dir(), JAX_PACKAGES, f"JAX {JAX_VERSION} (CPU)", "about 100 MB", log)


def _ensure_env(prefix: Path, packages: list[str], what: str, size: str, log) -> Path:
    ready = prefix / ".complete"
    if ready.exists():
        return prefix
    log(f"installing {what} into {prefix} (first run only; {size} from PyPI)")
    if not (prefix / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(prefix)], check=True)
    proc = subprocess.run([str(prefix / "bin" / "python"), "-m", "pip", "install", "--quiet", *packages],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise BuildError(f"installing {what} into {prefix} failed:\n{proc.stderr[-2000:]}")
    ready.touch()
    return prefix
