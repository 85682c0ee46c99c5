"""What a kubeconfig file offers, read without connecting: its contexts and current context.

The hub checks member-cluster entries against their kubeconfig at start-up, so that a
context missing from the file stops the hub with a message naming cluster and field
instead of failing later on every request to that cluster.
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml

from ..errors import UserError


class KubeconfigError(UserError, ValueError):
    """A kubeconfig that cannot be read or has no usable contexts; the message says why."""


@dataclass(frozen=True)
class KubeconfigContexts:
    """The context names a kubeconfig defines, and its current context ("" if none)."""

    names: frozenset[str]
    current: str


def read_contexts(path: str) -> KubeconfigContexts:
    """The contexts of the kubeconfig at ``path`` (KubeconfigError when unreadable)."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh) or {}
    except OSError as err:
        raise KubeconfigError(f"cannot be read: {err.strerror or err}") from None
    except yaml.YAMLError as err:
        raise KubeconfigError(f"is not valid YAML: {str(err).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise KubeconfigError("is not a kubeconfig (a mapping with contexts, clusters and users)")
    contexts = data.get("contexts") or []
    if not isinstance(contexts, list):
        raise KubeconfigError("has a 'contexts' entry that is not a list")
    names = frozenset(c["name"] for c in contexts if isinstance(c, dict) and isinstance(c.get("name"), str))
    current = data.get("current-context") or ""
    return KubeconfigContexts(names=names, current=current if isinstance(current, str) else "")
