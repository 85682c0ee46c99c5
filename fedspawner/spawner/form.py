"""The launch form: profile, cluster, GPU type with live free counts, GPU count.

``render_options_form(spawner)`` is the spawner's ``options_form``: JupyterHub awaits it
and puts the HTML inside its own ``<form>`` (which adds the Start button). The page is
rendered on the server from an availability payload (``availability.availability``),
so it is complete without JavaScript; an inline script then long-polls the hub's
availability endpoint and keeps labels and disabled states current while the form is
open. The choice logic exists twice, here and in ``templates/launch_form.js``, with
the same rules and the same wording: a change to one needs the same change in the other.

Rules, for both sides:

* a cluster option is disabled (with the reason in its label) when the cluster is down,
  not open to the user's groups, or not allowed by the selected profile;
* a GPU type is disabled when none can be had now on the clusters still eligible
  (usable, allowed by the profile, and the chosen cluster unless Auto);
* the option currently selected is never disabled (a disabled option would not be
  submitted); if it becomes impossible, its label says why and a warning shows;
* "No GPU" is disabled for profiles that include a GPU (such a profile always gets one).

KubeSpawner ``profile_options`` render as selects named ``profile-option-<slug>--<key>``
(and ``...--unlisted-choice`` for a free-form "Other" value), as KubeSpawner's own form does.
"""

from __future__ import annotations

import copy
import time
from inspect import isawaitable
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from slugify import slugify  # a kubespawner dependency: slugs as KubeSpawner makes them

from ..federation import gpus
from ..federation.registry import ClusterRegistry
from . import options
from .availability import availability

TEMPLATES = Path(__file__).parent / "templates"
AUTO_LABEL = "Auto (let the hub choose)"
PROFILE_REASON = "not allowed by the selected profile"
GPU_PROFILE_REASON = "this profile includes a GPU"
READY_WAIT = 3.0  # seconds the first form of a fresh hub waits for cluster inventories

_env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(default=True),
                   trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False)
_env.policies["json.dumps_kwargs"] = {"sort_keys": False, "ensure_ascii": True}


# ---- profiles --------------------------------------------------------------------

def prepare_profiles(profile_list) -> list[dict]:
    """A copy of a KubeSpawner ``profile_list`` with slugs, one default and option defaults set."""
    if isinstance(profile_list, dict):
        profile_list = [profile_list[k] for k in sorted(profile_list)]
    profiles = copy.deepcopy(list(profile_list or []))
    for profile in profiles:
        if not profile.get("slug"):
            profile["slug"] = slugify(profile.get("display_name", "profile"))
        for option in (profile.get("profile_options") or {}).values():
            choices = option.get("choices") or {}
            if choices and not any(c.get("default") for c in choices.values()):
                choices[next(iter(choices))]["default"] = True
            option.setdefault("unlisted_choice", {}).setdefault("enabled", False)
    if profiles and not any(p.get("default") for p in profiles):
        profiles[0]["default"] = True
    return profiles


def _canonical(gpu_type: str | None) -> str | None:
    if not gpu_type or gpu_type == "none":
        return None
    if gpu_type == options.ANY_GPU:
        return gpu_type
    try:
        return gpus.parse_gpu_type(gpu_type, strict=False).name
    except gpus.GpuTypeError:
        return gpu_type


def _profile_gpu(profile: dict | None) -> tuple[str | None, int]:
    """(canonical type or None, count) a profile asks for by default."""
    gpu = (profile or {}).get("gpu") or {}
    gpu_type = _canonical(gpu.get("type"))
    try:
        count = int(gpu.get("count", 1 if gpu_type else 0))
    except (TypeError, ValueError):
        count = 1 if gpu_type else 0
    return gpu_type, (max(count, 1) if gpu_type else 0)


def _profile_allows(profile: dict | None, cluster: str) -> bool:
    allowed = ((profile or {}).get("clusters") or {}).get("allowed")
    return not allowed or cluster in allowed


# ---- clusters --------------------------------------------------------------------

def cluster_reason(cluster: dict, profile: dict | None) -> str:
    """Why ``cluster`` (an availability entry) cannot be chosen now, or ""."""
    if not cluster["usable"]:
        return cluster["reason"] or "unavailable now"
    if not _profile_allows(profile, cluster["name"]):
        return PROFILE_REASON
    return ""


def cluster_label(cluster: dict, reason: str = "") -> str:
    """Display name, site and owner ("Campus HPC · campus · University IT"), then " — reason" if any."""
    parts = [cluster["display_name"] or cluster["name"], cluster["site"], cluster["owner"]]
    label = " · ".join(p for p in parts if p)
    return f"{label} — {reason}" if reason else label


def gpu_notes(cluster: dict) -> list[str]:
    """One line per GPU type of a cluster, saying whether numbers are exact or upper bounds."""
    lines = []
    for g in cluster["gpus"]:
        note = g.get("note") or (f"{g['free']} free of {g['total']}" if g["free"] is not None
                                 else f"up to {g['upper_bound'] or 0} free")
        lines.append(f"{g['display']}: {note}")
    return lines


def cluster_status(cluster: dict, profile: dict | None) -> str:
    """The table's status cell."""
    reason = cluster_reason(cluster, profile)
    if reason:
        return reason[:1].upper() + reason[1:]
    return "Up" if cluster["visibility"] == "nodes" else "Up (GPU numbers are upper bounds)"


# ---- GPU types -------------------------------------------------------------------

def _amounts(entries: list[dict]) -> tuple[int, int, bool]:
    """(exact free, free or upper bound, whether any number is only an upper bound)."""
    free = sum(g["free"] or 0 for g in entries)
    upper = sum(g["free"] if g["free"] is not None else (g["upper_bound"] or 0) for g in entries)
    return free, upper, any(g["free"] is None for g in entries)


def _count_label(display: str, free: int, upper: int, bounded: bool) -> str:
    return f"{display} — up to {upper} free" if bounded else f"{display} — {free} free"


def _max_per_node(pairs: list[tuple[dict, dict]]) -> tuple[int | None, str]:
    """Largest node size over (cluster, gpu entry) pairs, when every one is known."""
    if not pairs or any(g["max_per_node"] is None for _, g in pairs):
        return None, ""
    cluster, gpu = max(pairs, key=lambda p: p[1]["max_per_node"])
    return gpu["max_per_node"], cluster["display_name"]


def _eligible(clusters: list[dict], profile: dict | None, chosen: str) -> tuple[list[dict], str]:
    """Clusters a request may go to now, or the reason there are none (for an explicit choice)."""
    if chosen != options.AUTO:
        sel = next((c for c in clusters if c["name"] == chosen), None)
        if sel is None:
            return [], "that cluster is not a member"
        reason = cluster_reason(sel, profile)
        return ([], f"{sel['display_name']} is {reason}") if reason else ([sel], "")
    return [c for c in clusters if not cluster_reason(c, profile)], ""


def gpu_rows(clusters: list[dict], profile: dict | None, chosen: str) -> list[dict]:
    """The GPU type choices ("" = No GPU, "any", then each canonical type) with labels and reasons."""
    eligible, chosen_reason = _eligible(clusters, profile, chosen)
    sel = next((c for c in clusters if c["name"] == chosen), None)
    rows = []
    profile_gpu, _ = _profile_gpu(profile)
    rows.append({"value": "", "display": "No GPU", "reason": GPU_PROFILE_REASON if profile_gpu else "",
                 "max_per_node": 0, "max_where": ""})
    # Any GPU: everything on the eligible clusters.
    pairs = [(c, g) for c in eligible for g in c["gpus"]]
    free, upper, bounded = _amounts([g for _, g in pairs])
    if chosen_reason:
        reason = chosen_reason
    elif not pairs:
        reason = f"no GPUs on {sel['display_name']}" if sel else "no GPUs on the clusters you can use"
    else:
        reason = "" if upper else "none free now"
    mx, where = _max_per_node(pairs)
    rows.append({"value": options.ANY_GPU, "display": "Any GPU", "free": free, "upper": upper,
                 "bounded": bounded, "reason": reason, "max_per_node": mx, "max_where": where})
    displays = {g["type"]: g["display"] for c in clusters for g in c["gpus"]}
    for gpu_type in sorted(displays, key=lambda t: (displays[t].lower(), t)):
        rows.append(_type_row(gpu_type, displays[gpu_type], clusters, eligible, chosen_reason, sel, profile))
    for row in rows:
        row["disabled"] = bool(row["reason"])
        if row["value"] == "":
            row["label"] = f"No GPU — {row['reason']}" if row["reason"] else "No GPU"
        elif row["reason"]:
            row["label"] = f"{row['display']} — {row['reason']}"
        else:
            row["label"] = _count_label(row["display"], row["free"], row["upper"], row["bounded"])
    return rows


def _type_row(gpu_type: str, display: str, clusters: list[dict], eligible: list[dict], chosen_reason: str,
              sel: dict | None, profile: dict | None) -> dict:
    offering = [c for c in clusters if any(g["type"] == gpu_type for g in c["gpus"])]
    here = [(c, g) for c in eligible for g in c["gpus"] if g["type"] == gpu_type]
    free, upper, bounded = _amounts([g for _, g in here])
    mx, where = _max_per_node(here)
    row = {"value": gpu_type, "display": display, "free": free, "upper": upper, "bounded": bounded,
           "max_per_node": mx, "max_where": where, "reason": ""}
    if sel is not None and sel not in offering:
        row["reason"] = f"not on {sel['display_name']}"
    elif chosen_reason:
        row["reason"] = chosen_reason
    elif not here:
        usable = [c for c in offering if c["usable"]]
        if not usable:
            if all(not c["healthy"] for c in offering):
                row["reason"] = "its clusters are down" if len(offering) > 1 else "its cluster is down"
            elif all(c["healthy"] for c in offering):
                row["reason"] = "only on clusters closed to your groups"
            else:
                row["reason"] = "only on clusters you cannot use now"
        else:
            row["reason"] = "not where this profile runs"
    elif upper == 0:
        row["reason"] = "none free now"
    return row


def count_limits(row: dict | None) -> tuple[int, str]:
    """(max for the GPU count input, its hint) for the selected GPU row."""
    if row is None or row["value"] == "":
        return options.MAX_GPUS_PER_SERVER, "Choose a GPU type to ask for GPUs."
    if row["max_per_node"]:
        return row["max_per_node"], (f"At most {row['max_per_node']} on one node "
                                     f"({row['max_where']}); a server's GPUs must share a node.")
    return options.MAX_GPUS_PER_SERVER, ("Node sizes are not visible on every cluster, so the hub checks "
                                         "the count when you start.")


# ---- the whole form --------------------------------------------------------------

def _profile_facts(profile: dict, displays: dict[str, str], cluster_names: dict[str, str]) -> str:
    facts = []
    gpu_type, count = _profile_gpu(profile)
    if gpu_type:
        facts.append(f"{count} × {displays.get(gpu_type, gpu_type)}")
    where = profile.get("clusters") or {}
    if where.get("allowed"):
        facts.append("runs on " + ", ".join(cluster_names.get(n, n) for n in where["allowed"]) + " only")
    if where.get("preferred"):
        facts.append("prefers " + ", ".join(cluster_names.get(n, n) for n in where["preferred"]))
    if isinstance(where.get("locality"), dict) and where["locality"]:
        facts.append("prefers clusters with " + ", ".join(f"{k}={v}" for k, v in where["locality"].items()))
    return " · ".join(facts)


def _profile_options(profile: dict, index: int, prev: dict) -> list[dict]:
    """KubeSpawner ``profile_options`` as select fields named ``profile-option-<slug>--<key>``."""
    out = []
    for j, (key, option) in enumerate((profile.get("profile_options") or {}).items()):
        choices = option.get("choices") or {}
        unlisted = option.get("unlisted_choice") or {}
        chosen = prev.get(key) if prev.get(key) in choices else None
        other = prev.get(f"{key}--unlisted-choice") if unlisted.get("enabled") else None
        if not chosen and not other:
            chosen = next((k for k, c in choices.items() if c.get("default")), None)
        out.append({
            "id": f"fs-po-{index}-{j}", "key": key, "display_name": option.get("display_name", key),
            "name": f"profile-option-{profile['slug']}--{key}",
            "choices": [{"value": k, "display_name": c.get("display_name", k),
                         "selected": k == chosen and not other} for k, c in choices.items()],
            "unlisted": bool(unlisted.get("enabled")), "unlisted_value": other or "",
            "unlisted_label": unlisted.get("display_name") or f"Other {option.get('display_name', key)}",
            "unlisted_in_choices": unlisted.get("display_name_in_choices") or "Other…",
            "pattern": unlisted.get("validation_regex") or "",
            "title": unlisted.get("validation_message") or "",
        })
    return out


def _choose_profile(profiles: list[dict], prev: dict) -> tuple[dict | None, dict]:
    """The profile to check, and the past choices still worth pre-selecting."""
    if not profiles:
        return None, prev
    profile = next((p for p in profiles if p["slug"] == prev.get("profile")), None)
    if profile is None and prev.get("profile"):
        prev = {}  # past choices belonged to a profile this user cannot pick now
    return profile or next((p for p in profiles if p.get("default")), profiles[0]), prev


def _cluster_options(clusters: list[dict], profile: dict | None, prev: dict) -> list[dict]:
    opts = [{"value": options.AUTO, "label": AUTO_LABEL, "reason": "", "disabled": False}]
    for c in clusters:
        reason = cluster_reason(c, profile)
        opts.append({"value": c["name"], "label": cluster_label(c, reason), "reason": reason,
                     "disabled": bool(reason)})
    valid = [o["value"] for o in opts if not o["disabled"]]
    chosen = prev.get("cluster") if prev.get("cluster") in valid else options.AUTO
    for o in opts:
        o["selected"] = o["value"] == chosen
    return opts


def _gpu_selection(rows: list[dict], profile: dict | None, prev: dict) -> tuple[dict, int]:
    """The selected GPU row (added if the profile's type is nowhere) and the count to show."""
    by_value = {r["value"]: r for r in rows}
    profile_type, profile_count = _profile_gpu(profile)
    prev_type = _canonical(prev.get("gpu_type")) or ""
    from_prev = "gpu_type" in prev and prev_type in by_value and not by_value[prev_type]["disabled"]
    value = prev_type if from_prev else (profile_type or "")
    if value not in by_value:  # a profile's type no member cluster has
        reason = "not in any member cluster"
        by_value[value] = {"value": value, "display": value, "reason": reason, "label": f"{value} — {reason}",
                           "disabled": True, "max_per_node": None, "max_where": ""}
        rows.append(by_value[value])
    selected = by_value[value]
    for r in rows:
        r["selected"] = r is selected
    count = profile_count
    if from_prev:
        try:
            count = int(prev.get("gpu_count", 0))
        except (TypeError, ValueError):
            count = profile_count
        if not 0 <= count <= count_limits(selected)[0]:
            count = profile_count if profile_type == value else 1
    if not value:
        return selected, 0
    return selected, max(count, 1)


def _warning(option: dict) -> str:
    return f"Your choice is not possible now: {option['reason']}." if option["reason"] else ""


def _table(clusters: list[dict], profile: dict | None) -> list[dict]:
    down = ["unknown while the cluster is down"]
    return [{"name": c["name"], "display_name": c["display_name"],
             "where": " · ".join(x for x in (c["site"], c["owner"]) if x),
             "status": cluster_status(c, profile), "ok": not cluster_reason(c, profile),
             "gpus": (gpu_notes(c) or ["CPU only"]) if c["healthy"] else down}
            for c in clusters]


def _script_profiles(profiles: list[dict]) -> list[dict]:
    """What the script needs of each profile to re-filter choices when the profile changes."""
    out = []
    for p in profiles:
        gpu_type, count = _profile_gpu(p)
        out.append({"slug": p["slug"], "display_name": p.get("display_name", p["slug"]), "gpu_type": gpu_type,
                    "gpu_count": count, "allowed": ((p.get("clusters") or {}).get("allowed")) or None})
    return out


def form_model(profiles: list[dict], payload: dict, user_options: dict | None) -> dict:
    """Everything the template shows, decided from visible profiles, availability and past choices."""
    clusters = payload.get("clusters") or []
    profile, prev = _choose_profile(profiles, dict(user_options or {}))
    cluster_opts = _cluster_options(clusters, profile, prev)
    chosen = next(o for o in cluster_opts if o["selected"])
    rows = gpu_rows(clusters, profile, chosen["value"])
    selected, count = _gpu_selection(rows, profile, prev)
    count_max, count_hint = count_limits(selected)
    warnings = {"cluster": _warning(chosen), "gpu": _warning(selected)}
    for o in cluster_opts + rows:  # the selected option stays enabled, so that it is submitted
        if o["selected"]:
            o["disabled"] = False

    displays = {g["type"]: g["display"] for c in clusters for g in c["gpus"]}
    names = {c["name"]: c["display_name"] for c in clusters}
    profile_views = [{
        "id": f"fs-profile-{i}", "slug": p["slug"], "display_name": p.get("display_name", p["slug"]),
        "description": p.get("description", ""), "facts": _profile_facts(p, displays, names),
        "checked": p is profile, "options": _profile_options(p, i, prev if p is profile else {})}
        for i, p in enumerate(profiles)]
    return {"profiles": profile_views, "clusters": cluster_opts, "gpu_types": rows,
            "table": _table(clusters, profile), "warnings": warnings,
            "gpu_count": {"value": count, "max": count_max, "hint": count_hint},
            "taken_at": payload.get("taken_at") or 0,
            "script_data": {"availability": payload, "profiles": _script_profiles(profiles),
                            "max_gpus": options.MAX_GPUS_PER_SERVER, "auto_label": AUTO_LABEL}}


_assets: dict[str, Markup] = {}


def _asset(name: str) -> Markup:
    """A stylesheet or script from the templates folder, inlined verbatim (read once)."""
    if name not in _assets:
        _assets[name] = Markup((TEMPLATES / name).read_text(encoding="utf-8"))
    return _assets[name]


def availability_url(base_url: str) -> str:
    """The hub's availability endpoint under its base URL (``/hub/`` by default)."""
    return (base_url or "/hub/").rstrip("/") + "/api/fedspawner/availability"


def render_form_html(profiles: list[dict], payload: dict, user_options: dict | None, base_url: str) -> str:
    """The launch form's HTML (pure): ``profiles`` are the ones this user may pick, prepared."""
    model = form_model(profiles, payload, user_options)
    model["script_data"]["endpoint"] = availability_url(base_url)
    taken = model["taken_at"]
    model["updated"] = time.strftime("%H:%M:%S", time.localtime(taken)) if taken else ""
    template = _env.get_template("launch_form.html")
    return template.render(css=_asset("launch_form.css"), script=_asset("launch_form.js"), **model)


async def render_options_form(spawner) -> str:
    """HTML of the launch form for ``spawner``'s user, with availability as of now."""
    profile_list = spawner.profile_list
    if callable(profile_list):
        profile_list = profile_list(spawner)
        if isawaitable(profile_list):
            profile_list = await profile_list
    groups = frozenset(getattr(g, "name", g) for g in (getattr(spawner.user, "groups", None) or []))
    profiles = options.visible_profiles(prepare_profiles(profile_list), groups)
    registry = ClusterRegistry.shared(spawner.config)
    await registry.start()
    await registry.wait_ready(timeout=READY_WAIT)
    payload = availability(registry.snapshot(), groups, registry.version)
    return render_form_html(profiles, payload, dict(spawner.user_options or {}), spawner.hub.base_url)
