"""The sandbox as a federation: ``Federation.clusters`` entries for a running sandbox.

Used by the demo hub and the tests. Clusters with a read-only inventory credential
get exact GPU numbers from watching nodes; the others are configured as a real
namespace-only member would be, with admin-declared capacity (here: what the
topology really has) and their GPU labelling convention.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from ..federation import gpus
from .manager import Sandbox

# How the demo reaches servers on each cluster; tunnel for the "cloud" one.
DEFAULT_ACCESS = {"burst": "tunnel"}


def declared_capacity(sandbox: Sandbox, cluster: str) -> tuple[dict[str, int], str | None]:
    """GPUs by canonical type and the labelling convention, read from the topology."""
    spec = sandbox.topology().cluster(cluster)
    capacity: Counter[str] = Counter()
    conventions: Counter[str] = Counter()
    for group in spec.node_groups:
        for offer in gpus.node_gpu_offers(group.labels, group.resources):
            capacity[offer.gpu.name] += offer.count * group.count
            conventions[offer.convention] += 1
    return dict(capacity), next((c for c, _ in conventions.most_common() if c in gpus.CONVENTIONS), None)


def member_clusters(state_dir: Path | None = None, access: dict[str, str] | None = None) -> list[dict]:
    """``c.Federation.clusters`` for the sandbox running in ``state_dir``."""
    sandbox = Sandbox(state_dir, log=lambda *_: None)
    state = sandbox.read_state()
    if not state or not state.get("ready"):
        raise RuntimeError(f"no sandbox is running in {sandbox.dir}; start one with `fedspawner sandbox up`")
    access = {**DEFAULT_ACCESS, **(access or {})}
    entries = []
    for c in state["clusters"]:
        entry = {"name": c["name"], "display_name": c["display_name"], "site": c["site"], "owner": c["owner"],
                 "kubeconfig": state["kubeconfig"], "context": c["name"], "namespace": state["namespace"],
                 "access": access.get(c["name"], "direct")}
        if c.get("inventory_reader"):
            entry["inventory_context"] = f"{c['name']}-inventory"
        else:
            entry["capacity"], convention = declared_capacity(sandbox, c["name"])
            if convention:
                entry["gpu_convention"] = convention
        entries.append(entry)
    return entries
