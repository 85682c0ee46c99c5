"""``access: direct``: the proxy reaches the pod at its own address (a flat network)."""

from __future__ import annotations

from ...federation.model import ACCESS_DIRECT
from .base import Access


class Direct(Access):
    """The pod's own URL, as KubeSpawner gives it; nothing to set up or tear down."""

    name = ACCESS_DIRECT
