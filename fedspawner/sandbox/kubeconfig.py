"""Kubeconfig files for the sandbox: one per cluster for its components, and one for
users with contexts per cluster: ``<cluster>`` (the hub's namespace-scoped
service-account token), ``<cluster>-admin`` (cluster admin) and, where the topology
grants it, ``<cluster>-inventory`` (read-only watcher of nodes and pods)."""

from __future__ import annotations

import base64
from pathlib import Path

import yaml


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def admin_kubeconfig(server: str, ca: Path, cert: Path, key: Path) -> dict:
    """A kubeconfig with the single admin context ``admin``."""
    return {
        "apiVersion": "v1", "kind": "Config", "current-context": "admin", "preferences": {},
        "clusters": [{"name": "sandbox", "cluster": {"server": server, "certificate-authority-data": _b64(ca)}}],
        "users": [{"name": "admin", "user": {"client-certificate-data": _b64(cert), "client-key-data": _b64(key)}}],
        "contexts": [{"name": "admin", "context": {"cluster": "sandbox", "user": "admin"}}],
    }


def federation_kubeconfig(entries: list[dict]) -> dict:
    """Combine clusters into one kubeconfig.

    Each entry: name, server, ca (Path), admin_cert, admin_key (Paths), tokens ({"hub": ...,
    optionally "inventory": ...}), namespace.
    """
    clusters, users, contexts = [], [], []
    for e in entries:
        name = e["name"]
        clusters.append({"name": name, "cluster": {"server": e["server"], "certificate-authority-data": _b64(e["ca"])}})
        admin = {"client-certificate-data": _b64(e["admin_cert"]), "client-key-data": _b64(e["admin_key"])}
        users.append({"name": f"{name}-admin", "user": admin})
        users.append({"name": f"{name}-hub", "user": {"token": e["tokens"]["hub"]}})
        contexts.append({"name": name, "context": {"cluster": name, "user": f"{name}-hub",
                                                   "namespace": e["namespace"]}})
        if "inventory" in e["tokens"]:
            users.append({"name": f"{name}-inventory", "user": {"token": e["tokens"]["inventory"]}})
            contexts.append({"name": f"{name}-inventory", "context": {"cluster": name, "user": f"{name}-inventory"}})
        contexts.append({"name": f"{name}-admin", "context": {"cluster": name, "user": f"{name}-admin"}})
    return {"apiVersion": "v1", "kind": "Config", "preferences": {},
            "current-context": f"{entries[0]['name']}-admin" if entries else "",
            "clusters": clusters, "users": users, "contexts": contexts}


def write(path: Path, config: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)
