"""Time-to-notebook for the launch form and the spawner: what ``federation.predict`` needs
from the hub (its own pods, the server image, each start's duration)."""

from __future__ import annotations

import asyncio

from kubernetes_asyncio import client
from kubernetes_asyncio.client.rest import ApiException

from ..federation.predict import HISTORY, Prediction

_recovered: set[str] = set()


def _nodes(registry, cluster: str) -> list[dict]:
    """Node objects the inventory watches (empty where nodes are not visible)."""
    watch = getattr(registry.inventories[cluster], "_node_watch", None)
    return list(watch.objects.values()) if watch is not None and registry.inventories[cluster].nodes else []


async def recover(registry, namespace_of, component: str) -> None:
    """Once per cluster and process: count the hub's Ready pods there (after a hub restart the
    history comes back from their timestamps)."""
    for name, inventory in registry.inventories.items():
        if name in _recovered or not inventory.healthy:
            continue
        api = registry.api(name)
        try:
            pods = await asyncio.wait_for(client.CoreV1Api(api).list_namespaced_pod(
                namespace_of(name), label_selector=f"component={component}"), 5)
        except (ApiException, asyncio.TimeoutError, OSError):
            continue
        HISTORY.recover(name, [api.sanitize_for_serialization(p) for p in pods.items])
        _recovered.add(name)


def predictions(registry, clusters: list[str], image: str, gpu_type: str | None) -> dict[str, Prediction]:
    """The expected time to notebook on each of ``clusters``."""
    return {c: HISTORY.predict(c, gpu_type, image, _nodes(registry, c)) for c in clusters if c in registry.inventories}


def record(registry, cluster: str, gpu_type: str | None, image: str, seconds: float, uid: str) -> None:
    """A start that just finished on ``cluster`` (``uid``: its pod's)."""
    present = HISTORY.image_known(cluster, image, _nodes(registry, cluster))
    HISTORY.record(cluster, gpu_type, image, seconds, present, uid=uid)


def form_rows(preds: dict[str, Prediction], names: dict[str, str], warm: dict[str, dict] | None = None,
              displays: dict[str, str] | None = None) -> list[dict]:
    """Rows of the form's time-to-notebook list; ``warm`` (cluster -> ``warm.warm_counts``) adds
    "· 2 warm NVIDIA A100 40GB" where the hub holds warm slots."""
    rows = []
    for cluster, pred in preds.items():
        counts = (warm or {}).get(cluster) or {}
        held = ", ".join(f"{n['warm']} warm {(displays or {}).get(gpu, gpu)}" for gpu, n in sorted(counts.items())
                         if n["warm"])
        rows.append({"name": cluster, "display_name": names.get(cluster, cluster),
                     "label": pred.label() + (f" · {held}" if held else "")})
    return rows
