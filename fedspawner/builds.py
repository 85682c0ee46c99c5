"""Where fedspawner keeps what it builds or installs once, and the error when that fails.

The sandbox's binaries, helm, the workload environment and configurable-http-proxy are
cached under ``~/.cache/fedspawner`` (``FEDSPAWNER_CACHE`` moves it). Shared by the
sandbox and deploy packages, which do not import each other. Pure; imports nothing of fedspawner.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["BuildError", "cache_root"]


class BuildError(RuntimeError):
    """A tool could not be built or installed; the message says what to install or fix."""


def cache_root() -> Path:
    """The cache directory: ``$FEDSPAWNER_CACHE``, else ``~/.cache/fedspawner``."""
    return Path(os.environ.get("FEDSPAWNER_CACHE", Path.home() / ".cache" / "fedspawner"))
