"""Loading and unloading the extension in IPython (``%load_ext fedspawner``, or ``fedspawner kernel-autoload``)."""

from __future__ import annotations

from typing import Any

__all__ = ["load_ipython_extension", "unload_ipython_extension"]


def load_ipython_extension(ipython: Any) -> None:
    """Register the magics. Cheap: nothing is sent and nothing heavy is imported until a magic runs."""
    from .magics import FedMagics

    ipython.register_magics(FedMagics)


def unload_ipython_extension(ipython: Any) -> None:
    """Remove the magics and stop every widget following a job (the jobs keep running)."""
    from .live import live_widgets
    from .magics import FedMagics

    for widget in live_widgets():
        widget.stop("extension unloaded")
    table = ipython.magics_manager.magics
    for kind, names in FedMagics.magics.items():
        for name in names:
            table[kind].pop(name, None)
    ipython.magics_manager.registry.pop(FedMagics.__name__, None)
