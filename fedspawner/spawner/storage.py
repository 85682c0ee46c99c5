"""Where a server's persistent volume claim lives, across hub restarts and stops.

KubeSpawner keeps a user's PVC from one start to the next and deletes it with the user
(``delete_pvc``). Across a federation the claim lives on one member cluster, in one
namespace: that location is kept in the spawner state (it survives a stop, as
KubeSpawner's ``pvc_name`` does), later starts of the server go back to it, and
``delete_forever`` deletes the claim there. For states written before the location was
kept, the claim is looked for on every member cluster.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from kubernetes_asyncio import client

STATE_KEY = "pvc_location"
LOOKUP_TIMEOUT = 5.0


@dataclass(frozen=True)
class PvcLocation:
    """The member cluster and namespace that hold a server's claim."""

    cluster: str
    namespace: str

    def to_state(self) -> dict:
        return {"cluster": self.cluster, "namespace": self.namespace}

    @classmethod
    def from_state(cls, state: dict) -> "PvcLocation | None":
        """The location saved in a spawner state, or None (none saved, or malformed)."""
        saved = state.get(STATE_KEY)
        if isinstance(saved, dict) and isinstance(saved.get("cluster"), str) \
                and isinstance(saved.get("namespace"), str) and saved["cluster"] and saved["namespace"]:
            return cls(saved["cluster"], saved["namespace"])
        return None


async def _holds(api: client.ApiClient, name: str, namespace: str) -> bool | None:
    """Whether the claim exists there (None: the cluster could not say)."""
    try:
        await asyncio.wait_for(client.CoreV1Api(api).read_namespaced_persistent_volume_claim(name, namespace),
                               LOOKUP_TIMEOUT)
        return True
    except client.ApiException as err:
        return False if err.status == 404 else None
    except (asyncio.TimeoutError, OSError):
        return None


async def find_claim(apis: dict[str, client.ApiClient], name: str,
                     namespaces: dict[str, str]) -> tuple[list[PvcLocation], list[str]]:
    """Every member cluster holding the claim ``name`` in its namespace for this server
    (``namespaces``: cluster -> namespace), and the clusters that could not be asked."""
    clusters = [c for c in namespaces if c in apis]
    answers = await asyncio.gather(*(_holds(apis[c], name, namespaces[c]) for c in clusters))
    found = [PvcLocation(c, namespaces[c]) for c, held in zip(clusters, answers) if held]
    unknown = [c for c, held in zip(clusters, answers) if held is None]
    return found, unknown
