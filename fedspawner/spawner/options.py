"""What a user asked for at launch, checked against the federation before anything starts.

User options (from the launch form or the REST API) are ``profile``, ``cluster``
(``auto`` or a member name), ``gpu_type`` (a canonical GPU type, ``any``, or empty for
none) and ``gpu_count``, plus KubeSpawner's own profile-option keys. Profiles follow
KubeSpawner's ``profile_list`` schema, extended with::

    clusters: {allowed: [names], preferred: [names],   # where this profile may run
               locality: {label: value}}               # prefer clusters labelled so (data nearby)
    gpu: {type: nvidia-a100-40gb, count: 1}             # what it asks for by default
    dataset: cms-run3                                    # data it reads: placed where the data is
    allowed_groups: [group, ...]                         # who may pick it

Every check raises ``OptionsError`` with a message for the user (the launch form shows
it); nothing is created until the request is valid.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import UserError
from ..federation import gpus
from ..federation.datasets import unknown_dataset
from ..federation.model import InventorySnapshot, PlacementRequest
from ..federation.placement import ANY_GPU
from ..federation.requests import placement_request

AUTO = "auto"
MAX_GPUS_PER_SERVER = 64


class OptionsError(UserError, ValueError):
    """A launch request that cannot be honoured; the message is for the user."""


@dataclass(frozen=True)
class ServerRequest:
    """A validated launch request."""

    profile: dict | None
    cluster: str | None  # None: Auto
    gpu_type: str | None  # canonical name, "any", or None for no GPU
    gpu_count: int
    dataset: str | None = None  # the profile's dataset (placed by data locality)


def options_from_form(formdata: dict[str, list[str]]) -> dict:
    """Form fields (lists of strings) -> user options; profile-option keys pass through.

    ``gpu_count`` becomes a number only when the form has that field (a form without GPU
    fields adds no GPU keys)."""
    options = {key: values[0] if len(values) == 1 else values for key, values in formdata.items() if values}
    if "gpu_count" in options:
        count = str(options["gpu_count"] or "0").strip()
        try:
            options["gpu_count"] = int(count)
        except ValueError:
            raise OptionsError(f"GPU count must be a whole number, got {count!r}.") from None
    for key in ("cluster", "gpu_type", "profile"):
        if key in options:
            options[key] = str(options[key]).strip()
    # KubeSpawner's profile options arrive as profile-option-<profile>--<option>; only
    # the chosen profile's count, under the option's own name (as KubeSpawner does).
    slug = options.get("profile")
    prefix = f"profile-option-{slug}--" if slug else None
    for key in [k for k in options if k.startswith("profile-option-")]:
        value = options.pop(key)
        if prefix and key.startswith(prefix):
            options[key[len(prefix):]] = value
    return options


def visible_profiles(profiles: list[dict], groups: frozenset[str]) -> list[dict]:
    """The profiles this user may pick (``allowed_groups`` unset means everyone)."""
    return [p for p in profiles if not p.get("allowed_groups") or groups & set(p["allowed_groups"])]


def _profile(options: dict, profiles: list[dict], groups: frozenset[str]) -> dict | None:
    if not profiles:
        return None
    slug = options.get("profile")
    if not slug:
        default = next((p for p in profiles if p.get("default")), profiles[0])
        if default not in visible_profiles(profiles, groups):
            visible = visible_profiles(profiles, groups)
            if not visible:
                raise OptionsError("None of the server profiles is open to your groups; ask an admin for access.")
            return visible[0]
        return default
    match = next((p for p in profiles if p.get("slug") == slug), None)
    if match is None:
        names = ", ".join(p["slug"] for p in visible_profiles(profiles, groups))
        raise OptionsError(f"There is no server profile '{slug}'. Choose one of: {names}.")
    if match not in visible_profiles(profiles, groups):
        raise OptionsError(f"The profile '{match.get('display_name', slug)}' is only for the groups "
                           f"{', '.join(sorted(match['allowed_groups']))}; you are not in any of them.")
    return match


def _clusters_allowed(profile: dict | None, snapshot: InventorySnapshot, groups: frozenset[str]) -> list[str]:
    allowed = [c.name for c in snapshot.clusters if c.open_to(groups)]
    profile_allowed = ((profile or {}).get("clusters") or {}).get("allowed")
    if profile_allowed:
        allowed = [c for c in allowed if c in profile_allowed]
    return allowed


def _gpu_choice(options: dict, profile: dict | None) -> tuple[str | None, int]:
    profile_gpu = (profile or {}).get("gpu") or {}
    raw_type = options.get("gpu_type") or profile_gpu.get("type") or ""
    count = options.get("gpu_count")
    if count is None or (count == 0 and not options.get("gpu_type")):
        count = profile_gpu.get("count", 1 if raw_type else 0)
    if isinstance(count, bool) or not isinstance(count, int):
        try:
            count = int(str(count))
        except ValueError:
            raise OptionsError(f"GPU count must be a whole number, got {count!r}.") from None
    if count < 0:
        raise OptionsError(f"GPU count cannot be negative (got {count}).")
    if count > MAX_GPUS_PER_SERVER:
        raise OptionsError(f"{count} GPUs is more than any server can have (at most {MAX_GPUS_PER_SERVER}).")
    if raw_type in ("", "none"):
        return (ANY_GPU, count) if count else (None, 0)
    if count == 0:
        count = 1
    if raw_type == ANY_GPU:
        return ANY_GPU, count
    try:
        return gpus.parse_gpu_type(raw_type, strict=False).name, count
    except gpus.GpuTypeError as err:
        raise OptionsError(str(err)) from None


def _check_gpu_fits(gpu_type: str, count: int, clusters: list[str], snapshot: InventorySnapshot) -> None:
    """Reject types nobody has and counts above every node (where nodes are visible)."""
    offering = []
    for name in clusters:
        cluster = snapshot.cluster(name)
        for avail in cluster.gpus.values():
            if gpu_type in (ANY_GPU, avail.gpu_type):
                offering.append((name, avail))
    if not offering:
        available = sorted({a.gpu_type for n in clusters for a in snapshot.cluster(n).gpus.values()})
        where = "the clusters open to you" if len(clusters) < len(snapshot.clusters) else "any member cluster"
        what = "any GPU" if gpu_type == ANY_GPU else gpu_type
        raise OptionsError(f"No {what} in {where}. Available GPU types: {', '.join(available) or 'none'}.")
    if any(a.max_per_node is None for _, a in offering):
        return  # some cluster's nodes are not visible: let placement try it
    best_name, best = max(offering, key=lambda o: o[1].max_per_node)
    if count > best.max_per_node:
        raise OptionsError(f"{count} × {best.display if gpu_type != ANY_GPU else 'GPU'} do not fit on one "
                           f"node anywhere: the most on one node is {best.max_per_node} ({best_name}). "
                           f"Ask for {best.max_per_node} or fewer.")


def resolve(options: dict, profiles: list[dict], snapshot: InventorySnapshot,
            groups: frozenset[str]) -> ServerRequest:
    """Check user options against profiles and the federation; raise OptionsError."""
    profile = _profile(options, profiles, groups)
    allowed = _clusters_allowed(profile, snapshot, groups)
    if not allowed:
        raise OptionsError("None of the member clusters is open to your groups for this profile; "
                           "ask an admin for access.")
    cluster = options.get("cluster") or AUTO
    if cluster != AUTO:
        if snapshot.cluster(cluster) is None:
            names = ", ".join(f"{c.name} ({c.display_name})" for c in snapshot.clusters)
            raise OptionsError(f"There is no cluster '{cluster}'. Choose Auto or one of: {names}.")
        if cluster not in allowed:
            raise OptionsError(f"You may not use the cluster '{cluster}' with this profile or your groups; "
                               f"open to you: {', '.join(allowed)}.")
    gpu_type, count = _gpu_choice(options, profile)
    if gpu_type:
        _check_gpu_fits(gpu_type, count, [cluster] if cluster != AUTO else allowed, snapshot)
    dataset = (profile or {}).get("dataset") or None
    unknown = unknown_dataset(dataset, snapshot.clusters)
    if unknown:
        raise OptionsError(f"The profile '{profile.get('display_name', profile.get('slug'))}' reads the dataset "
                           f"{dataset!r}, which no member cluster holds now; ask an admin. ({unknown})")
    return ServerRequest(profile=profile, cluster=None if cluster == AUTO else cluster, gpu_type=gpu_type,
                         gpu_count=count, dataset=dataset)


def server_placement(req: ServerRequest, snapshot: InventorySnapshot, *, user: str, groups: frozenset[str],
                     cpu_milli: int, memory_bytes: int, policy: str, image: str | None = None,
                     only: frozenset[str] | None = None) -> PlacementRequest:
    """The core's placement request for a validated launch request (``image``: the server's image;
    ``only``: the clusters the server's own settings limit it to, such as where its storage is)."""
    clusters = (req.profile or {}).get("clusters") or {}
    allowed = _clusters_allowed(req.profile, snapshot, groups)
    if only is not None:
        allowed = [c for c in allowed if c in only]
    return placement_request(
        gpu_type=req.gpu_type, gpu_count=req.gpu_count, cpu_milli=cpu_milli, memory_bytes=memory_bytes,
        user=user, groups=groups, chosen=(req.cluster,) if req.cluster else None,
        allowed=allowed, preferred=clusters.get("preferred") or (),
        locality=clusters.get("locality"), policy=policy, image=image, dataset=req.dataset,
        allow_multi_node=bool(((req.profile or {}).get("gpu") or {}).get("allow_multi_node", False)))
