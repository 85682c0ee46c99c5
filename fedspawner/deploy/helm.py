"""helm, built from the Go module proxy and cached, and ``helm template`` around it.

The zero-to-jupyterhub values in ``helm-values/`` are validated by rendering the real
chart. helm is ``go install``ed once into ``~/.cache/fedspawner/helm-<version>/``
(``FEDSPAWNER_CACHE`` moves the cache); ``FEDSPAWNER_HELM`` names another helm binary.
"""

from __future__ import annotations

import base64
import fcntl
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from ..builds import BuildError, cache_root
from ..errors import UserError

HELM_MODULE = "helm.sh/helm/v3"
HELM_VERSION = "v3.21.4"
#: The lowest Kubernetes version the values are rendered for (the chart needs >= 1.32).
DEFAULT_KUBE_VERSION = "1.34.4"


class HelmError(UserError, RuntimeError):
    """helm refused the chart or the values; the message is helm's own explanation."""


def helm_path(version: str = HELM_VERSION) -> Path:
    return cache_root() / f"helm-{version}" / "helm"


def build_helm(dest: Path, version: str = HELM_VERSION, env: dict[str, str] | None = None) -> None:
    """``go install`` helm ``version`` from the module proxy into ``dest`` (a file path)."""
    go = shutil.which("go")
    if not go:
        raise BuildError("go is needed to build helm but is not on PATH; install Go 1.24 or newer")
    with tempfile.TemporaryDirectory() as tmp:
        build_env = dict(os.environ, CGO_ENABLED="0", GOFLAGS="-mod=mod", GOBIN=tmp, **(env or {}))
        ldflags = f"-s -w -X {HELM_MODULE}/internal/version.version={version}"
        proc = subprocess.run([go, "install", "-trimpath", f"-ldflags={ldflags}",
                               f"{HELM_MODULE}/cmd/helm@{version}"], cwd=tmp, env=build_env,
                              capture_output=True, text=True)
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
            raise BuildError(f"building helm {version} failed:\n{tail}")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(os.path.join(tmp, "helm"), dest)


def ensure_helm(log=print) -> Path:
    """The helm binary: ``$FEDSPAWNER_HELM``, else the cached build (built on first use)."""
    override = os.environ.get("FEDSPAWNER_HELM")
    if override:
        return Path(override)
    path = helm_path()
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build at a time across processes
        if not path.exists():
            log(f"building helm {HELM_VERSION} into {path.parent} from the Go module proxy (first run only)")
            partial = path.with_name("helm.partial")
            build_helm(partial)
            partial.rename(path)
    return path


@dataclass(frozen=True)
class Rendered:
    """The manifests ``helm template`` produced, parsed."""

    documents: list[dict]

    def find(self, kind: str, name: str) -> dict:
        for doc in self.documents:
            if doc.get("kind") == kind and doc.get("metadata", {}).get("name") == name:
                return doc
        raise KeyError(f"{kind}/{name} is not among the rendered manifests")

    def secret_data(self, name: str) -> dict[str, str]:
        """A rendered Secret's entries, decoded."""
        secret = self.find("Secret", name)
        decoded = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
        return {**decoded, **(secret.get("stringData") or {})}

    def kinds(self) -> list[str]:
        return sorted({d.get("kind", "") for d in self.documents})


def template(chart: Path, values: list[Path], *, release: str = "jhub", namespace: str = "jhub",
             kube_version: str = DEFAULT_KUBE_VERSION, set_values: dict[str, str] | None = None,
             helm: Path | None = None) -> Rendered:
    """Render ``chart`` with the values files (later files win) as ``helm template`` does.

    helm validates the merged values against the chart's ``values.schema.json``; a
    refusal raises ``HelmError`` with helm's message.
    """
    argv = [str(helm or ensure_helm()), "template", release, str(chart), "--namespace", namespace,
            "--kube-version", kube_version]
    for path in values:
        argv += ["--values", str(path)]
    for key, value in (set_values or {}).items():
        argv += ["--set-string", f"{key}={value}"]
    proc = subprocess.run(argv, capture_output=True, text=True,
                          env=dict(os.environ, HELM_CACHE_HOME=str(cache_root() / "helm-home" / "cache"),
                                   HELM_CONFIG_HOME=str(cache_root() / "helm-home" / "config"),
                                   HELM_DATA_HOME=str(cache_root() / "helm-home" / "data")))
    if proc.returncode != 0:
        raise HelmError(proc.stderr.strip() or proc.stdout.strip())
    return Rendered([d for d in yaml.safe_load_all(proc.stdout) if d])
