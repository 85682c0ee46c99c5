"""Time-to-notebook: how long a server start is expected to take on each member cluster.

The estimate comes from the hub's own recent starts per cluster and GPU type (kept in
memory, and recovered from the timestamps of the hub's pods on the clusters after a
restart: creation → Ready), split by whether the server's image was already on that
cluster's nodes. An image counts as present when a node lists it in ``status.images``
(where nodes are visible) or when one of the hub's own pods ran it there before.

``predict`` and ``pod_start_seconds`` are pure; ``StartHistory`` is the bookkeeping.
"""

from __future__ import annotations

import statistics
from collections import defaultdict, deque
from dataclasses import dataclass

from .timestamps import epoch

#: What a pull adds when the history only has starts of the other kind (a guess, said as such).
PULL_GUESS_S = 20.0
RECENT = 20  # starts kept per (cluster, GPU type, image present)


@dataclass(frozen=True)
class Prediction:
    seconds: float | None  # None: no history to go by
    basis: str  # for people: "median of 5 recent starts, image already there"

    def label(self) -> str:
        """"~4 s to notebook (median of 5 recent starts …)" or "no recent starts"."""
        if self.seconds is None:
            return self.basis
        return f"~{_round(self.seconds)} s to notebook ({self.basis})"


def _round(seconds: float) -> int | float:
    return round(seconds, 1) if seconds < 10 else int(round(seconds))


def predict(same: list[float], other: list[float], image_present: bool) -> Prediction:
    """The expected start time from recent durations with the same image presence as now
    (``same``) and with the other (``other``)."""
    where = "image already there" if image_present else "image not seen there yet"
    if same:
        return Prediction(statistics.median(same), f"median of {len(same)} recent starts, {where}")
    if other:
        base = statistics.median(other)
        guess = base + PULL_GUESS_S if not image_present else max(base - PULL_GUESS_S, min(other))
        return Prediction(guess, f"{len(other)} recent starts with{'out' if image_present else ''} a pull, "
                                 f"adjusted; {where}")
    return Prediction(None, "no recent starts here")


def pod_start_seconds(pod: dict) -> float | None:
    """Seconds from a pod's creation to its Ready condition (JSON pod), or None if never Ready."""
    created = epoch((pod.get("metadata") or {}).get("creationTimestamp"))
    ready = next((c for c in (pod.get("status") or {}).get("conditions") or []
                  if c.get("type") == "Ready" and c.get("status") == "True"), None)
    at = epoch(ready.get("lastTransitionTime")) if ready else None
    if created is None or at is None:
        return None
    return max(at - created, 0.0)


def pod_images(pod: dict) -> list[str]:
    return [c.get("image", "") for c in (pod.get("spec") or {}).get("containers") or []]


def node_images(node: dict) -> set[str]:
    """Every image name a node says it holds (``status.images[].names``)."""
    return {n for img in (node.get("status") or {}).get("images") or [] for n in img.get("names") or []}


class StartHistory:
    """Recent start durations per (cluster, GPU type, image present), and the images each
    cluster has run for the hub."""

    def __init__(self):
        self._samples: dict[tuple[str, str, bool], deque] = defaultdict(lambda: deque(maxlen=RECENT))
        self._seen: dict[str, set[str]] = defaultdict(set)
        self._pods: set[tuple[str, str]] = set()  # (cluster, pod uid) already counted

    def clear(self) -> None:
        """Forget every start (benchmarks measure from a clean history)."""
        self.__init__()

    def image_known(self, cluster: str, image: str, nodes: list[dict] = ()) -> bool:
        return image in self._seen[cluster] or any(image in node_images(n) for n in nodes)

    def record(self, cluster: str, gpu_type: str | None, image: str, seconds: float,
               image_present: bool, uid: str = "") -> None:
        """One finished start (``uid``: its pod, so a recovery does not count it twice)."""
        if uid:
            if (cluster, uid) in self._pods:
                return
            self._pods.add((cluster, uid))
        self._samples[(cluster, gpu_type or "", image_present)].append(seconds)
        self._seen[cluster].add(image)

    def recover(self, cluster: str, pods: list[dict]) -> int:
        """Count the Ready pods of the hub (JSON) not seen yet, oldest first; returns how many."""
        found = 0
        for pod in sorted(pods, key=lambda p: (p.get("metadata") or {}).get("creationTimestamp") or ""):
            seconds = pod_start_seconds(pod)
            meta = pod.get("metadata") or {}
            if seconds is None:
                continue
            images = pod_images(pod)
            present = all(i in self._seen[cluster] for i in images)
            gpu = (meta.get("labels") or {}).get("fedspawner.dev/gpu-type")
            before = len(self._pods)
            self.record(cluster, gpu, images[0] if images else "", seconds, present, uid=meta.get("uid", ""))
            found += len(self._pods) > before
        return found

    def predict(self, cluster: str, gpu_type: str | None, image: str, nodes: list[dict] = ()) -> Prediction:
        """The expected time to notebook for ``image`` with ``gpu_type`` on ``cluster``; starts of
        other GPU types on that cluster count when this one has none."""
        present = self.image_known(cluster, image, nodes)

        def samples(flag: bool) -> list[float]:
            exact = list(self._samples.get((cluster, gpu_type or "", flag), ()))
            return exact or [s for (c, _, f), d in self._samples.items() if c == cluster and f == flag for s in d]

        return predict(samples(present), samples(not present), present)


#: The process's history (the hub's).
HISTORY = StartHistory()
