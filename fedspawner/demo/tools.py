"""Tools the demo hub needs that do not come from PyPI: configurable-http-proxy (npm)."""

from ..sandbox.chp import CHP_VERSION, ensure_chp  # noqa: F401 - the demo's entry points
