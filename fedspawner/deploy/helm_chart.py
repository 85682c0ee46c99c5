"""Where the zero-to-jupyterhub chart and fedspawner's values files are.

The chart is not shipped with fedspawner: tests and benchmarks render the chart source
named by ``FEDSPAWNER_Z2JH_CHART`` (default: ``../shared/z2jh-chart/jupyterhub`` beside
the checkout); admins render the released chart from its Helm repository.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
VALUES_DIR = REPO_ROOT / "helm-values"
BASE_VALUES = VALUES_DIR / "values.yaml"
EXAMPLES = {p.stem: p for p in sorted((VALUES_DIR / "examples").glob("*.yaml"))}


def chart_dir() -> Path | None:
    """The z2jh chart source to render, or None when it is not on this machine."""
    raw = os.environ.get("FEDSPAWNER_Z2JH_CHART")
    path = Path(raw) if raw else REPO_ROOT.parent / "shared" / "z2jh-chart" / "jupyterhub"
    return path if (path / "Chart.yaml").is_file() else None
