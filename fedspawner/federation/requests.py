"""The one way to build a ``PlacementRequest``, for notebook servers and jobs alike (pure).

The spawner (a launch request and its profile) and the gateway (a job spec and its
``cluster`` field) both describe where a workload may go in the same terms; this turns
those terms into the core's request, so the two can never read them differently.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .images import image_key
from .model import POLICY_PACK, PlacementRequest

__all__ = ["placement_request"]


def placement_request(*, gpu_type: str | None, gpu_count: int, pods: int = 1, cpu_milli: int = 0,
                      memory_bytes: int = 0, user: str = "", groups: frozenset[str] = frozenset(),
                      chosen: Sequence[str] | None = None, allowed: Sequence[str] | None = None,
                      preferred: Sequence[str] = (), locality: Mapping[str, str] | None = None,
                      policy: str = POLICY_PACK, allow_multi_node: bool = False,
                      image: str | None = None, dataset: str | None = None) -> PlacementRequest:
    """A placement request.

    ``chosen`` is the user's own choice: one cluster (placed there or nowhere) or several (tried
    in that order, and nowhere else); None lets the hub choose. ``allowed`` is where an admin
    (a profile, the user's groups) lets the workload run at all; ``preferred`` ranks clusters
    when the user did not. ``image`` is the pods' image as written (normalised here); ``dataset``
    a dataset the workload reads (see ``federation.datasets``).
    """
    chosen = tuple(chosen) if chosen else None
    explicit = chosen[0] if chosen and len(chosen) == 1 else None
    allowed_now = None if allowed is None else tuple(allowed)
    if chosen and len(chosen) > 1:
        allowed_now = chosen if allowed_now is None else tuple(c for c in chosen if c in allowed_now)
        preferred = chosen
    return PlacementRequest(
        gpu_type=gpu_type, gpu_count=gpu_count, pods=pods, cpu_milli=cpu_milli, memory_bytes=memory_bytes,
        user=user, groups=groups, explicit_cluster=explicit, allowed_clusters=allowed_now,
        preferred_clusters=tuple(preferred), locality=dict(locality or {}), policy=policy,
        allow_multi_node=allow_multi_node, image=image_key(image) if image else None, dataset=dataset or None)
