"""The namespace a server runs in on a member cluster, and settings that ask for another one.

A federated server runs in the namespace its member cluster grants the hub
(``Federation.clusters[].namespace``), or in the user's own namespace with
``enable_user_namespaces``. A namespace set per server — a profile's
``kubespawner_override: {namespace: …}`` (also in a profile option's choice), a
``pre_spawn_hook``, ``auth_state_hook`` or group override — is honoured as KubeSpawner
honours it: the server runs there, on the member clusters that grant that namespace.
A static profile asking for a namespace no member grants stops the hub at start-up;
anything decided per spawn is refused when the server starts, saying why.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from ..federation.config import FederationConfigError, MemberCluster


def granting(namespace: str, members: Iterable[MemberCluster]) -> list[str]:
    """The member clusters whose granted namespace is ``namespace``."""
    return [m.name for m in members if m.namespace == namespace]


def granted_list(members: Iterable[MemberCluster]) -> str:
    """``onprem: jhub, burst: notebooks`` — what each member grants, for messages."""
    return ", ".join(f"{m.name}: {m.namespace}" for m in members)


def refusal(namespace: str, members: Iterable[MemberCluster], allowed: Iterable[str] | None = None) -> str:
    """Why a server asking for ``namespace`` cannot start on any (allowed) member, for the user."""
    members = list(members)
    scope = "" if allowed is None else f" among the clusters open to it ({', '.join(allowed) or 'none'})"
    return (f"This server asks to run in the namespace {namespace!r}, which no member cluster{scope} grants "
            f"the hub (granted: {granted_list(members)}). Pick another profile, or ask an admin.")


def _overrides(profile: dict) -> Iterator[tuple[str, dict]]:
    """Every ``kubespawner_override`` of a profile, with where it sits."""
    yield "kubespawner_override", profile.get("kubespawner_override") or {}
    for name, option in (profile.get("profile_options") or {}).items():
        for choice, spec in (option.get("choices") or {}).items():
            yield f"profile_options.{name}.choices.{choice}", (spec or {}).get("kubespawner_override") or {}
        unlisted = option.get("unlisted_choice") or {}
        yield f"profile_options.{name}.unlisted_choice", unlisted.get("kubespawner_override") or {}


def check_profiles(profiles: object, members: list[MemberCluster], user_namespaces: bool) -> None:
    """Refuse (FederationConfigError naming profile and field) a static profile whose
    ``namespace`` override no member cluster it may use grants. A callable profile list
    is checked per start instead; with ``enable_user_namespaces`` the hub manages
    namespaces itself and any override is used as is."""
    if callable(profiles) or not isinstance(profiles, (list, dict)) or user_namespaces:
        return
    for i, profile in enumerate(profiles.values() if isinstance(profiles, dict) else profiles):
        if not isinstance(profile, dict):
            continue
        slug = profile.get("slug") or profile.get("display_name") or f"#{i}"
        allowed = ((profile.get("clusters") or {}).get("allowed")) or None
        usable = [m for m in members if allowed is None or m.name in allowed]
        for where, override in _overrides(profile):
            namespace = override.get("namespace") if isinstance(override, dict) else None
            if not isinstance(namespace, str) or "{" in namespace:  # templated: known only per start
                continue
            if not granting(namespace, usable):
                raise FederationConfigError(
                    f"KubeSpawner.profile_list: profile '{slug}': field '{where}.namespace' is {namespace!r}, "
                    f"which no member cluster{'' if allowed is None else ' the profile may use'} grants the hub "
                    f"(granted: {granted_list(usable or members)}). Set that cluster's namespace in "
                    "Federation.clusters, or remove the override.")
