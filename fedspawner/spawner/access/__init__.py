"""How the hub reaches a server on a member cluster: one module per access mode.

The modes' names are ``federation.model.ACCESS_MODES`` (what the federation config
accepts); this package gives each its implementation of ``Access`` and refuses to load
if the two ever differ.
"""

from __future__ import annotations

from ...federation.model import ACCESS_MODES
from .base import Access
from .direct import Direct
from .ingress import Ingress
from .tunnel import Tunnel

MODES: dict[str, Access] = {mode.name: mode for mode in (Direct(), Ingress(), Tunnel())}
if tuple(sorted(MODES)) != tuple(sorted(ACCESS_MODES)):  # a mode added to one place only
    raise ImportError(f"access modes {sorted(MODES)} do not match ACCESS_MODES {sorted(ACCESS_MODES)}")


def mode(name: str) -> Access:
    """The access mode called ``name`` (a member's ``access``, validated by the config)."""
    return MODES[name]


__all__ = ["ACCESS_MODES", "MODES", "Access", "mode"]
