"""Configured trait values of a spawner, saved and restored.

KubeSpawner applies a profile's ``kubespawner_override`` by mutating the spawner's
traits (merging dicts in place), and the federated spawner adds GPU requests, node
affinity and tolerations per target cluster. The same spawner object serves every
start of a user's server, so without a reset one start's choices would leak into the
next (a CPU server after a GPU server would still ask for a GPU). The baseline taken
when the spawner is created is restored by ``clear_state`` — which JupyterHub calls
before each spawn's hooks and group overrides, and after each stop — so what the hooks
set reaches the pod; the settings as they stand after the hooks and the profile are
restored before every placement attempt.
"""

from __future__ import annotations

import copy

from traitlets import HasTraits


def snapshot(obj: HasTraits) -> dict[str, object]:
    """Deep copies of every configurable trait's current value."""
    saved = {}
    for name in obj.traits(config=True):
        value = getattr(obj, name)
        try:
            saved[name] = copy.deepcopy(value)
        except Exception:  # noqa: BLE001 - uncopyable values (objects, functions) are kept as they are
            saved[name] = value
    return saved


def restore(obj: HasTraits, saved: dict[str, object]) -> None:
    """Put back the saved values (copied again, so the saved ones stay pristine)."""
    for name, value in saved.items():
        if getattr(obj, name) != value:
            try:
                setattr(obj, name, copy.deepcopy(value))
            except Exception:  # noqa: BLE001
                setattr(obj, name, value)
