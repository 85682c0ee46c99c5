"""What the launch form shows: clusters and GPU types with live free counts (pure).

``availability(snapshot, groups)`` is the JSON the form's availability endpoint serves
to one user (clusters their groups may not use are included but marked unusable, with
the reason). Its ``version`` changes exactly when what that user would see changes,
so a long-polling form wakes only for changes of its own.
"""

from __future__ import annotations

import hashlib
import json

from ..federation.model import InventorySnapshot
from ..federation.views import cluster_json

# Where the hub serves ``availability`` (relative to the hub's base URL); the form polls it.
AVAILABILITY_PATH = r"/api/fedspawner/availability"


def availability(snapshot: InventorySnapshot, groups: frozenset[str]) -> dict:
    """The availability JSON for a user in ``groups``, with its change ``version``."""
    clusters = [cluster_json(c, groups) for c in snapshot.clusters]
    version = hashlib.sha1(json.dumps(clusters, sort_keys=True).encode()).hexdigest()[:16]
    return {"version": version, "taken_at": snapshot.taken_at, "clusters": clusters}
