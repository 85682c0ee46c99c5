"""The launch form: profile, cluster, GPU type with live free counts, GPU count.

``render_options_form(spawner)`` is the spawner's ``options_form``: JupyterHub awaits it
and puts the HTML inside its own ``<form>`` (which adds the Start button). The page is
rendered on the server from an availability payload (``availability.availability``),
so it is complete without JavaScript; an inline script then long-polls the hub's
availability endpoint and keeps labels and disabled states current while the form is
open.

The choice rules exist here and in ``templates/launch_form_rules.js`` (the script must
re-apply them when the profile, the cluster or the availability changes). Both take the
same inputs (an availability payload's clusters, a profile as ``rule_profile`` gives it,
the cluster choice) and give the same rows; ``tests/unit/test_form.py`` runs the script
in node over every profile x cluster choice of its fixtures and asserts they agree.

Rules:

* a cluster option is disabled (with the reason in its label) when the cluster is down,
  not open to the user's groups, or not allowed by the selected profile;
* a GPU type is disabled when none can be had now on the clusters still eligible
  (usable, allowed by the profile, and the chosen cluster unless Auto);
* free counts add up each cluster's best known number (exact, else its upper bound),
  and say "up to" when any of them is only an upper bound;
* the option currently selected is never disabled (a disabled option would not be
  submitted); if it becomes impossible, its label says why and a warning shows;
* "No GPU" is disabled for profiles that include a GPU (such a profile always gets one).

KubeSpawner ``profile_options`` render as selects named ``profile-option-<slug>--<key>``
(and ``...--unlisted-choice`` for a free-form "Other" value), as KubeSpawner's own form does.
"""

from __future__ import annotations

import time
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from ..federation import gpus
from . import options
from .availability import AVAILABILITY_PATH, availability

TEMPLATES = Path(__file__).parent / "templates"
AUTO_LABEL = "Auto (let the hub choose)"
PROFILE_REASON = "not allowed by the selected profile"
GPU_PROFILE_REASON = "this profile includes a GPU"
#: What the script's rules need from the server (``launchRules(consts)``).
CONSTS = {"auto": options.AUTO, "any": options.ANY_GPU, "auto_label": AUTO_LABEL,
          "max_gpus": options.MAX_GPUS_PER_SERVER}

_env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(default=True),
                   trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False)
_env.policies["json.dumps_kwargs"] = {"sort_keys": False, "ensure_ascii": True}


# ---- profiles --------------------------------------------------------------------

def _canonical(gpu_type: str | None) -> str | None:
    if not gpu_type or gpu_type == "none":
        return None
    if gpu_type == options.ANY_GPU:
        return gpu_type
    try:
        return gpus.parse_gpu_type(gpu_type, strict=False).name
    except gpus.GpuTypeError:
        return gpu_type


def rule_profile(profile: dict) -> dict:
    """What the rules (here and in the script) use of a profile: its GPU (canonical type or None,
    and count) and the clusters it is limited to (None: any)."""
    gpu = profile.get("gpu") or {}
    gpu_type = _canonical(gpu.get("type"))
    try:
        count = int(gpu.get("count", 1 if gpu_type else 0))
    except (TypeError, ValueError):
        count = 1 if gpu_type else 0
    return {"slug": profile["slug"], "display_name": profile.get("display_name", profile["slug"]),
            "gpu_type": gpu_type, "gpu_count": max(count, 1) if gpu_type else 0,
            "allowed": ((profile.get("clusters") or {}).get("allowed")) or None}


# ---- clusters --------------------------------------------------------------------

def cluster_reason(cluster: dict, profile: dict | None) -> str:
    """Why ``cluster`` (an availability entry) cannot be chosen with ``profile`` now, or ""."""
    if not cluster["usable"]:
        return cluster["reason"] or "unavailable now"
    if profile and profile["allowed"] and cluster["name"] not in profile["allowed"]:
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
        note = g.get("note") or (f"{g['best_known_free']} free of {g['total']}" if g["free"] is not None
                                 else f"up to {g['best_known_free'] or 0} free")
        lines.append(f"{g['display']}: {note}")
    return lines


def cluster_status(cluster: dict, profile: dict | None) -> str:
    """The table's status cell."""
    reason = cluster_reason(cluster, profile)
    if reason:
        return reason[:1].upper() + reason[1:]
    return "Up" if cluster["visibility"] == "nodes" else "Up (GPU numbers are upper bounds)"


def cluster_rows(clusters: list[dict], profile: dict | None) -> list[dict]:
    """The cluster select: Auto, then every member with the reason it cannot be chosen."""
    rows = [{"value": options.AUTO, "label": AUTO_LABEL, "reason": ""}]
    for c in clusters:
        reason = cluster_reason(c, profile)
        rows.append({"value": c["name"], "label": cluster_label(c, reason), "reason": reason})
    return rows


def table_rows(clusters: list[dict], profile: dict | None) -> list[dict]:
    """The cluster table's rows."""
    rows = []
    for c in clusters:
        lines = gpu_notes(c) if c["healthy"] else ["unknown while the cluster is down"]
        rows.append({"name": c["name"], "display_name": c["display_name"],
                     "where": " · ".join(x for x in (c["site"], c["owner"]) if x),
                     "status": cluster_status(c, profile), "ok": not cluster_reason(c, profile),
                     "gpus": lines or ["CPU only"]})
    return rows


# ---- GPU types -------------------------------------------------------------------

Pairs = list[tuple[dict, dict]]  # (cluster, GPU entry)


def _amount_row(value: str, display: str, pairs: Pairs, reason: str) -> dict:
    """A GPU row with the free GPUs over ``pairs`` (best known numbers; ``bounded`` when any is
    only an upper bound) and the largest node, when every node size is known."""
    max_per_node, where = None, ""
    if pairs and all(g["max_per_node"] is not None for _, g in pairs):
        cluster, gpu = max(pairs, key=lambda p: p[1]["max_per_node"])
        max_per_node, where = gpu["max_per_node"], cluster["display_name"]
    return {"value": value, "display": display, "free": sum(g["best_known_free"] or 0 for _, g in pairs),
            "bounded": any(g["free"] is None for _, g in pairs), "reason": reason,
            "max_per_node": max_per_node, "max_where": where}


def _eligible(clusters: list[dict], profile: dict | None, chosen: str) -> tuple[list[dict], str]:
    """Clusters a request may go to now, or the reason there are none (for an explicit choice)."""
    if chosen != options.AUTO:
        sel = next((c for c in clusters if c["name"] == chosen), None)
        if sel is None:
            return [], "that cluster is not a member"
        reason = cluster_reason(sel, profile)
        return ([], f"{sel['display_name']} is {reason}") if reason else ([sel], "")
    return [c for c in clusters if not cluster_reason(c, profile)], ""


def _type_reason(gpu_type: str, clusters: list[dict], eligible: tuple[list[dict], str], sel: dict | None,
                 here: Pairs, free: int) -> str:
    offering = [c for c in clusters if any(g["type"] == gpu_type for g in c["gpus"])]
    if sel is not None and sel not in offering:
        return f"not on {sel['display_name']}"
    if eligible[1]:
        return eligible[1]
    if here:
        return "" if free else "none free now"
    if any(c["usable"] for c in offering):
        return "not where this profile runs"
    if all(not c["healthy"] for c in offering):
        return "its clusters are down" if len(offering) > 1 else "its cluster is down"
    if all(c["healthy"] for c in offering):
        return "only on clusters closed to your groups"
    return "only on clusters you cannot use now"


def _label(row: dict) -> str:
    if row["reason"]:
        return f"{row['display']} — {row['reason']}"
    if row["value"] == "":
        return row["display"]
    return f"{row['display']} — {'up to ' if row['bounded'] else ''}{row['free']} free"


def gpu_rows(clusters: list[dict], profile: dict | None, chosen: str) -> list[dict]:
    """The GPU type choices ("" = No GPU, "any", then each type by display name) for a cluster choice."""
    eligible = _eligible(clusters, profile, chosen)
    sel = next((c for c in clusters if c["name"] == chosen), None) if chosen != options.AUTO else None
    rows = [{"value": "", "display": "No GPU", "reason": GPU_PROFILE_REASON if profile and profile["gpu_type"]
             else "", "max_per_node": 0, "max_where": ""}]
    pairs = [(c, g) for c in eligible[0] for g in c["gpus"]]
    row = _amount_row(options.ANY_GPU, "Any GPU", pairs, eligible[1])
    if not row["reason"] and not pairs:
        row["reason"] = f"no GPUs on {sel['display_name']}" if sel else "no GPUs on the clusters you can use"
    elif not row["reason"] and not row["free"]:
        row["reason"] = "none free now"
    rows.append(row)
    displays = {g["type"]: g["display"] for c in clusters for g in c["gpus"]}
    for gpu_type in sorted(displays, key=lambda t: (displays[t].lower(), t)):
        here = [(c, g) for c, g in pairs if g["type"] == gpu_type]
        row = _amount_row(gpu_type, displays[gpu_type], here, "")
        row["reason"] = _type_reason(gpu_type, clusters, eligible, sel, here, row["free"])
        rows.append(row)
    for row in rows:
        row["label"] = _label(row)
    return rows


def missing_row(value: str, display: str) -> dict:
    """The row for a chosen GPU type that no member cluster has (e.g. a profile's)."""
    row = {"value": value, "display": display, "reason": "not in any member cluster", "max_per_node": None,
           "max_where": ""}
    row["label"] = _label(row)
    return row


def count_limits(row: dict | None) -> dict:
    """``{max, hint}`` for the GPU count input, for the selected GPU row."""
    if row is None or row["value"] == "":
        return {"max": options.MAX_GPUS_PER_SERVER, "hint": "Choose a GPU type to ask for GPUs."}
    if row["max_per_node"]:
        return {"max": row["max_per_node"], "hint": f"At most {row['max_per_node']} on one node "
                f"({row['max_where']}); a server's GPUs must share a node."}
    return {"max": options.MAX_GPUS_PER_SERVER, "hint": "Node sizes are not visible on every cluster, so the "
            "hub checks the count when you start."}


# ---- the whole form --------------------------------------------------------------

def _profile_facts(profile: dict, rules: dict, displays: dict[str, str], cluster_names: dict[str, str]) -> str:
    facts = []
    if rules["gpu_type"]:
        facts.append(f"{rules['gpu_count']} × {displays.get(rules['gpu_type'], rules['gpu_type'])}")
    where = profile.get("clusters") or {}
    if rules["allowed"]:
        facts.append("runs on " + ", ".join(cluster_names.get(n, n) for n in rules["allowed"]) + " only")
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


def _selected(rows: list[dict], value: str) -> dict:
    """Mark the row of ``value`` selected (and enabled: a disabled option is not submitted), the others
    disabled when they have a reason; returns the selected row."""
    for row in rows:
        row["selected"] = row["value"] == value
        row["disabled"] = bool(row["reason"]) and not row["selected"]
    return next(row for row in rows if row["selected"])


def _gpu_choice(rows: list[dict], profile: dict | None, prev: dict) -> tuple[str, int]:
    """The GPU type to select (a row is added for a profile's type no member has) and the count to show."""
    by_value = {r["value"]: r for r in rows}
    profile_type, profile_count = (profile["gpu_type"] or "", profile["gpu_count"]) if profile else ("", 0)
    prev_type = _canonical(prev.get("gpu_type")) or ""
    from_prev = "gpu_type" in prev and prev_type in by_value and not by_value[prev_type]["reason"]
    value = prev_type if from_prev else profile_type
    if value not in by_value:
        rows.append(missing_row(value, value))
    count = profile_count
    if from_prev:
        try:
            count = int(prev.get("gpu_count", 0))
        except (TypeError, ValueError):
            count = profile_count
        if not 0 <= count <= count_limits(by_value[value])["max"]:
            count = profile_count if profile_type == value else 1
    return value, (max(count, 1) if value else 0)


def _warning(option: dict) -> str:
    return f"Your choice is not possible now: {option['reason']}." if option["reason"] else ""


def form_model(profiles: list[dict], payload: dict, user_options: dict | None) -> dict:
    """Everything the template shows, decided from visible profiles, availability and past choices."""
    clusters = payload.get("clusters") or []
    profile, prev = _choose_profile(profiles, dict(user_options or {}))
    rules = [rule_profile(p) for p in profiles]
    chosen_rules = rules[profiles.index(profile)] if profile is not None else None
    cluster_opts = cluster_rows(clusters, chosen_rules)
    valid = [o["value"] for o in cluster_opts if not o["reason"]]
    chosen = _selected(cluster_opts, prev["cluster"] if prev.get("cluster") in valid else options.AUTO)
    rows = gpu_rows(clusters, chosen_rules, chosen["value"])
    gpu_type, count = _gpu_choice(rows, chosen_rules, prev)
    selected = _selected(rows, gpu_type)
    limits = count_limits(selected)

    displays = {g["type"]: g["display"] for c in clusters for g in c["gpus"]}
    names = {c["name"]: c["display_name"] for c in clusters}
    profile_views = [{
        "id": f"fs-profile-{i}", "slug": p["slug"], "display_name": p.get("display_name", p["slug"]),
        "description": p.get("description", ""), "facts": _profile_facts(p, rules[i], displays, names),
        "checked": p is profile, "options": _profile_options(p, i, prev if p is profile else {})}
        for i, p in enumerate(profiles)]
    return {"profiles": profile_views, "clusters": cluster_opts, "gpu_types": rows,
            "table": table_rows(clusters, chosen_rules),
            "warnings": {"cluster": _warning(chosen), "gpu": _warning(selected)},
            "gpu_count": {"value": count, **limits},
            "taken_at": payload.get("taken_at") or 0,
            "script_data": {"availability": payload, "profiles": rules, "consts": CONSTS}}


_assets: dict[str, Markup] = {}


def _asset(name: str) -> Markup:
    """A stylesheet or script from the templates folder, inlined verbatim (read once)."""
    if name not in _assets:
        _assets[name] = Markup((TEMPLATES / name).read_text(encoding="utf-8"))
    return _assets[name]


def availability_url(base_url: str) -> str:
    """The hub's availability endpoint under its base URL (``/hub/`` by default)."""
    return (base_url or "/hub/").rstrip("/") + AVAILABILITY_PATH


def script() -> Markup:
    """The form's script: the rules and the page code, inside one function (no globals)."""
    if "script" not in _assets:
        _assets["script"] = Markup("(function () {\n" + _asset("launch_form_rules.js") + "\n"
                                   + _asset("launch_form.js") + "})();\n")
    return _assets["script"]


def render_form_html(profiles: list[dict], payload: dict, user_options: dict | None, base_url: str,
                     time_to_notebook: list[dict] = (), budget: str = "") -> str:
    """The launch form's HTML (pure): ``profiles`` are the ones this user may pick, as
    ``FederatedKubeSpawner.profiles`` gives them; ``time_to_notebook`` rows as ``ttn.form_rows``;
    ``budget`` says what is left of the user's GPU budget ("" when admins set none)."""
    model = form_model(profiles, payload, user_options)
    model["time_to_notebook"] = list(time_to_notebook)
    model["budget"] = budget
    model["script_data"]["endpoint"] = availability_url(base_url)
    taken = model["taken_at"]
    model["updated"] = time.strftime("%H:%M:%S", time.localtime(taken)) if taken else ""
    template = _env.get_template("launch_form.html")
    return template.render(css=_asset("launch_form.css"), script=script(), **model)


async def render_options_form(spawner) -> str:
    """HTML of the launch form for ``spawner``'s user, with availability as of now."""
    groups = spawner._groups()
    profiles = options.visible_profiles(await spawner.profiles(), groups)
    registry = await spawner.registry()
    await registry.wait_ready()
    payload = availability(registry.snapshot(), groups)
    estimate = getattr(spawner, "time_to_notebook", None)  # a spawner without start history shows none
    estimates = await estimate(payload["clusters"]) if estimate else []
    budget = registry.budget(spawner.user.name, groups)["summary"] if registry.budgets.enabled else ""
    return render_form_html(profiles, payload, dict(spawner.user_options or {}), spawner.hub.base_url, estimates,
                            budget)
