"""The launch form's server-side rendering (pure): choices, disabled states, labels, accessibility."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from types import SimpleNamespace

import pytest
from kubespawner import KubeSpawner

from fedspawner.federation.budgets import GpuBudgets
from fedspawner.federation.model import (
    SOURCE_DECLARED, SOURCE_QUOTA, ClusterSnapshot, GpuAvailability, InventorySnapshot,
)
from fedspawner.spawner import form
from fedspawner.spawner.availability import availability

A100 = "nvidia-a100-40gb"
H100 = "nvidia-h100-80gb"
L4 = "nvidia-l4"
MI210 = "amd-mi210"


# ---- a small DOM over html.parser (no third-party parser needed) --------------------

class Node:
    def __init__(self, tag: str, attrs: dict, parent: "Node | None"):
        self.tag, self.attrs, self.parent, self.children = tag, attrs, parent, []

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def iter(self):
        for c in self.children:
            if isinstance(c, Node):
                yield c
                yield from c.iter()

    def find_all(self, tag: str | None = None, **attrs) -> list["Node"]:
        return [n for n in self.iter() if (tag is None or n.tag == tag)
                and all(n.attrs.get(k.rstrip("_")) == v for k, v in attrs.items())]

    def find(self, tag: str | None = None, **attrs) -> "Node":
        found = self.find_all(tag, **attrs)
        assert found, f"no <{tag}> with {attrs}"
        return found[0]

    def by_id(self, id_: str) -> "Node | None":
        return next((n for n in self.iter() if n.attrs.get("id") == id_), None)


class _Builder(HTMLParser):
    VOID = {"input", "br", "img", "meta", "link", "hr"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {}, None)
        self.cur = self.root

    def handle_starttag(self, tag, attrs):
        node = Node(tag, {k: ("" if v is None else v) for k, v in attrs}, self.cur)
        self.cur.children.append(node)
        if tag not in self.VOID:
            self.cur = node

    def handle_endtag(self, tag):
        node = self.cur
        while node is not self.root and node.tag != tag:
            node = node.parent
        if node is not self.root:
            self.cur = node.parent

    def handle_data(self, data):
        self.cur.children.append(data)


def parse(html: str) -> Node:
    builder = _Builder()
    builder.feed(html)
    return builder.root


def options(dom: Node, select_id: str) -> dict[str, dict]:
    select = dom.by_id(select_id)
    return {o.attrs["value"]: {"label": o.text(), "disabled": "disabled" in o.attrs,
                               "selected": "selected" in o.attrs, "reason": o.attrs.get("data-reason", "")}
            for o in select.find_all("option")}


# ---- inventory built by hand ------------------------------------------------------

def exact(gpu_type: str, display: str, total: int, free: int, per_node: int, note: str = "",
          resource: str = "nvidia.com/gpu") -> GpuAvailability:
    return GpuAvailability(gpu_type, display, resource, total=total, free=free, free_upper_bound=None,
                           largest_free_on_one_node=min(free, per_node), max_per_node=per_node,
                           note=note or f"{free} free of {total}")


def bound(gpu_type: str, display: str, up_to: int, source: str = SOURCE_DECLARED) -> GpuAvailability:
    where = "quota" if source == SOURCE_QUOTA else "declared capacity"
    return GpuAvailability(gpu_type, display, "nvidia.com/gpu", total=up_to, free=None,
                           free_upper_bound=up_to, largest_free_on_one_node=None, max_per_node=None,
                           source=source, note=f"up to {up_to} free, from {where}")


def snapshot(*, burst_healthy: bool = True, h100_free: int = 8, secure_groups=None) -> InventorySnapshot:
    onprem = ClusterSnapshot(
        "onprem", "Campus HPC", "campus", "University Research Computing",
        gpus={A100: exact(A100, "NVIDIA A100 40GB", 8, 6, 4, "8 free of 8 (your quota allows 6)"),
              MI210: exact(MI210, "AMD Instinct MI210", 4, 4, 4, resource="amd.com/gpu")})
    regional = ClusterSnapshot("regional", "Regional Research Platform", "regional-dc",
                               "Research Platform Consortium", visibility="namespace",
                               gpus={L4: bound(L4, "NVIDIA L4", 4)})
    burst = ClusterSnapshot("burst", "Cloud Burst (GKE)", "europe-west4", "Central IT cloud account",
                            healthy=burst_healthy,
                            health_reason="" if burst_healthy else "apiserver did not answer",
                            gpus={H100: exact(H100, "NVIDIA H100 80GB", 8, h100_free, 8)})
    secure = ClusterSnapshot("secure", "Secure Enclave", "campus", "Medical School",
                             allowed_groups=frozenset(secure_groups or {"medics"}),
                             gpus={"nvidia-t4": exact("nvidia-t4", "NVIDIA T4", 2, 2, 2)})
    return InventorySnapshot((onprem, regional, burst, secure), taken_at=1_700_000_000.0)


PROFILES = [
    {"display_name": "Python (CPU)", "slug": "cpu", "default": True, "description": "A JupyterLab server."},
    {"display_name": "PyTorch on one A100", "slug": "a100", "description": "One A100, on-prem only.",
     "gpu": {"type": A100, "count": 1}, "clusters": {"allowed": ["onprem"]}, "allowed_groups": ["gpu-users"]},
    {"display_name": "Big GPU (cloud burst)", "slug": "h100", "gpu": {"type": "h100", "count": 1},
     "clusters": {"allowed": ["burst"]}, "allowed_groups": ["cloud-users"]},
]
ALICE = frozenset({"gpu-users", "cloud-users"})


def render(user_options=None, *, groups=ALICE, profiles=None, base_url="/hub/", **snap) -> Node:
    return parse(render_html(user_options, groups=groups, profiles=profiles, base_url=base_url, **snap))


def initialised(profiles: list[dict]) -> list[dict]:
    """A profile list as ``FederatedKubeSpawner.profiles`` hands it over (initialised by KubeSpawner)."""
    return KubeSpawner._get_initialized_profile_list(None, profiles)


def render_html(user_options=None, *, groups=ALICE, profiles=None, base_url="/hub/", **snap) -> str:
    from fedspawner.spawner.options import visible_profiles

    payload = availability(snapshot(**snap), groups)
    visible = visible_profiles(initialised(PROFILES if profiles is None else profiles), groups)
    return form.render_form_html(visible, payload, user_options, base_url)


# ---- tests ------------------------------------------------------------------------

def test_profiles_are_radios_named_profile_with_descriptions_and_facts():
    dom = render()
    radios = dom.find_all("input", type="radio")
    assert [r.attrs["value"] for r in radios] == ["cpu", "a100", "h100"]
    assert all(r.attrs["name"] == "profile" for r in radios)
    assert "checked" in radios[0].attrs and "checked" not in radios[1].attrs
    for radio in radios:
        assert dom.find("label", for_=radio.attrs["id"]).text()
        for hint in radio.attrs.get("aria-describedby", "").split():
            assert dom.by_id(hint) is not None
    a100 = radios[1]
    assert dom.by_id(a100.attrs["id"] + "-desc").text() == "One A100, on-prem only."
    assert dom.by_id(a100.attrs["id"] + "-facts").text() == "1 × NVIDIA A100 40GB · runs on Campus HPC only"
    assert dom.find("fieldset", id="fs-profiles").find("legend").text() == "Server profile"


def test_profiles_hidden_from_other_groups():
    dom = render(groups=frozenset({"gpu-users"}))
    assert [r.attrs["value"] for r in dom.find_all("input", type="radio")] == ["cpu", "a100"]
    assert "Big GPU" not in render_html(groups=frozenset({"gpu-users"}))


def test_cluster_options_carry_site_owner_and_reasons():
    opts = options(render(burst_healthy=False), "fs-cluster")
    assert list(opts) == ["auto", "onprem", "regional", "burst", "secure"]
    assert opts["auto"] == {"label": "Auto (let the hub choose)", "disabled": False, "selected": True,
                            "reason": ""}
    assert opts["onprem"]["label"] == "Campus HPC · campus · University Research Computing"
    assert not opts["onprem"]["disabled"]
    assert opts["burst"]["disabled"]
    assert opts["burst"]["label"] == ("Cloud Burst (GKE) · europe-west4 · Central IT cloud account — "
                                      "down: apiserver did not answer")
    assert opts["secure"]["disabled"]
    assert opts["secure"]["label"].endswith("— not open to your groups")


def test_profile_restricts_clusters_and_prefills_its_gpu():
    dom = render({"profile": "a100"})
    clusters = options(dom, "fs-cluster")
    assert not clusters["onprem"]["disabled"]
    for name in ("regional", "burst"):
        assert clusters[name]["disabled"]
        assert clusters[name]["reason"] == "not allowed by the selected profile"
    gpus = options(dom, "fs-gpu-type")
    assert gpus[A100]["selected"] and gpus[A100]["label"] == "NVIDIA A100 40GB — 6 free"
    assert gpus[""]["disabled"] and gpus[""]["label"] == "No GPU — this profile includes a GPU"
    assert gpus[L4]["disabled"] and gpus[L4]["label"] == "NVIDIA L4 — not where this profile runs"
    count = dom.by_id("fs-gpu-count")
    assert count.attrs["value"] == "1" and count.attrs["max"] == "4" and count.attrs["min"] == "0"
    assert "At most 4 on one node (Campus HPC)" in dom.by_id("fs-gpu-count-hint").text()


def test_gpu_labels_exact_upper_bound_and_unavailable():
    gpus = options(render(h100_free=0), "fs-gpu-type")
    assert list(gpus) == ["", "any", MI210, A100, H100, L4, "nvidia-t4"]  # sorted by display name
    assert gpus[""] == {"label": "No GPU", "disabled": False, "selected": True, "reason": ""}
    assert gpus[A100]["label"] == "NVIDIA A100 40GB — 6 free"
    assert gpus[L4]["label"] == "NVIDIA L4 — up to 4 free"
    assert gpus[H100] == {"label": "NVIDIA H100 80GB — none free now", "disabled": True, "selected": False,
                          "reason": "none free now"}
    assert gpus["nvidia-t4"]["disabled"]
    assert gpus["nvidia-t4"]["label"] == "NVIDIA T4 — only on clusters closed to your groups"
    assert gpus["any"]["label"] == "Any GPU — up to 14 free"  # 6 + 4 (exact) + up to 4 (regional)


def test_gpu_type_only_on_a_down_cluster():
    gpus = options(render(burst_healthy=False), "fs-gpu-type")
    assert gpus[H100]["disabled"] and gpus[H100]["label"] == "NVIDIA H100 80GB — its cluster is down"


def test_explicit_cluster_filters_gpu_types():
    dom = render({"cluster": "regional", "gpu_type": L4, "gpu_count": 2})
    assert options(dom, "fs-cluster")["regional"]["selected"]
    gpus = options(dom, "fs-gpu-type")
    assert gpus[L4]["selected"] and gpus[L4]["label"] == "NVIDIA L4 — up to 4 free"
    assert gpus[A100]["disabled"]
    assert gpus[A100]["label"] == "NVIDIA A100 40GB — not on Regional Research Platform"
    assert gpus["any"]["label"] == "Any GPU — up to 4 free"
    count = dom.by_id("fs-gpu-count")
    assert count.attrs["value"] == "2" and count.attrs["max"] == "64"  # regional shows no node sizes
    assert "hub checks the count" in dom.by_id("fs-gpu-count-hint").text()


def test_previous_choices_preselected_when_still_valid():
    dom = render({"profile": "cpu", "cluster": "onprem", "gpu_type": A100, "gpu_count": 3})
    assert options(dom, "fs-cluster")["onprem"]["selected"]
    assert options(dom, "fs-gpu-type")[A100]["selected"]
    assert dom.by_id("fs-gpu-count").attrs["value"] == "3"
    assert dom.by_id("fs-cluster-warning").attrs.get("hidden") == ""
    assert dom.by_id("fs-gpu-warning").attrs.get("hidden") == ""


@pytest.mark.parametrize("previous, expect_cluster, expect_gpu, expect_count", [
    ({"cluster": "burst", "gpu_type": H100, "gpu_count": 1}, "auto", "", "0"),  # burst is down now
    ({"cluster": "nowhere"}, "auto", "", "0"),
    ({"gpu_type": A100, "gpu_count": 9}, "auto", A100, "1"),  # above the largest node
    ({"gpu_type": "nvidia-a100-40gb", "gpu_count": "2"}, "auto", A100, "2"),  # REST API strings
    ({"profile": "gone", "cluster": "onprem", "gpu_type": A100}, "auto", "", "0"),  # profile removed
])
def test_previous_choices_dropped_when_invalid_now(previous, expect_cluster, expect_gpu, expect_count):
    dom = render(previous, burst_healthy=False)
    assert [v for v, o in options(dom, "fs-cluster").items() if o["selected"]] == [expect_cluster]
    assert [v for v, o in options(dom, "fs-gpu-type").items() if o["selected"]] == [expect_gpu]
    assert dom.by_id("fs-gpu-count").attrs["value"] == expect_count
    assert [r.attrs["value"] for r in dom.find_all("input", type="radio") if "checked" in r.attrs] == ["cpu"]


def test_profile_gpu_unavailable_stays_selected_with_a_warning():
    """A disabled selected option would not be submitted: the profile's type stays enabled and says why."""
    dom = render({"profile": "h100"}, h100_free=0)
    gpus = options(dom, "fs-gpu-type")
    assert gpus[H100]["selected"] and not gpus[H100]["disabled"]
    assert gpus[H100]["label"] == "NVIDIA H100 80GB — none free now"
    warning = dom.by_id("fs-gpu-warning")
    assert "hidden" not in warning.attrs
    assert warning.text() == "Your choice is not possible now: none free now."


def test_gpu_type_of_profile_missing_from_federation():
    profiles = [{"display_name": "TPU", "slug": "tpu", "gpu": {"type": "nvidia-b200", "count": 1}}]
    gpus = options(render(profiles=profiles), "fs-gpu-type")
    assert gpus["nvidia-b200"]["selected"] and "not in any member cluster" in gpus["nvidia-b200"]["label"]


def test_cluster_table_says_which_numbers_are_upper_bounds():
    dom = render(burst_healthy=False)
    rows = {tr.attrs["data-cluster"]: tr for tr in dom.by_id("fs-cluster-table").find_all("tr")
            if "data-cluster" in tr.attrs}
    assert "Up (GPU numbers are upper bounds)" in rows["regional"].text()
    assert "NVIDIA L4: up to 4 free, from declared capacity" in rows["regional"].text()
    assert "NVIDIA A100 40GB: 8 free of 8 (your quota allows 6)" in rows["onprem"].text()
    assert "Down: apiserver did not answer" in rows["burst"].text()
    assert "unknown while the cluster is down" in rows["burst"].text()
    assert "Not open to your groups" in rows["secure"].text()
    table = dom.by_id("fs-cluster-table")
    assert table.find("caption").text() and all(th.attrs.get("scope") for th in table.find_all("th"))


def test_accessibility_wiring():
    dom = render({"profile": "a100"})
    for control in ("fs-cluster", "fs-gpu-type", "fs-gpu-count"):
        assert dom.find("label", for_=control).text().strip()
        described = dom.by_id(control).attrs["aria-describedby"].split()
        assert described and all(dom.by_id(h) is not None for h in described)
    assert dom.by_id("fs-cluster").attrs["name"] == "cluster"
    assert dom.by_id("fs-gpu-type").attrs["name"] == "gpu_type"
    count = dom.by_id("fs-gpu-count")
    assert count.attrs["name"] == "gpu_count" and count.attrs["type"] == "number"
    live = dom.by_id("fs-live")
    assert live.attrs["aria-live"] == "polite" and live.attrs["role"] == "status"
    legends = [f.find("legend").text() for f in dom.find_all("fieldset")]
    assert legends == ["Server profile", "Where to run", "GPU"]
    # No mouse-only controls: nothing clickable that is not a native form control.
    assert not [n for n in dom.iter() if any(a.startswith("on") for a in n.attrs)]
    assert not dom.find_all("div", tabindex="0")


def test_admin_text_is_escaped_in_html_and_script_data():
    evil = '<img src=x onerror="alert(1)"></script><script>alert(2)</script>'
    profiles = [{"display_name": evil, "slug": "evil", "description": f"desc {evil} & more"}]
    html = render_html(profiles=profiles)
    dom = parse(html)
    assert not dom.find_all("img")
    assert len(dom.find_all("script")) == 2  # the JSON data and the form's own script: nothing injected
    assert evil in dom.find("label", for_="fs-profile-0").text()  # shown as text, verbatim
    data = dom.by_id("fs-data").text()
    assert "</script" not in data.lower() and "<img" not in data
    assert html.count("<script") == 2


def test_endpoint_follows_the_hub_base_url():
    import json

    dom = render(base_url="/research/hub/")
    data = json.loads(dom.by_id("fs-data").text())
    assert data["endpoint"] == "/research/hub/api/fedspawner/availability"
    assert data["availability"]["version"] == availability(snapshot(), ALICE)["version"]
    assert [p["slug"] for p in data["profiles"]] == ["cpu", "a100", "h100"]
    assert data["profiles"][2]["gpu_type"] == H100  # "h100" normalised for the script
    assert form.availability_url("") == "/hub/api/fedspawner/availability"


def test_kubespawner_profile_options_render_with_its_field_names():
    profiles = [{"display_name": "Data science", "slug": "ds", "profile_options": {
        "image": {"display_name": "Image", "choices": {
            "minimal": {"display_name": "Minimal", "kubespawner_override": {"image": "a"}},
            "scipy": {"display_name": "SciPy", "kubespawner_override": {"image": "b"}}},
            "unlisted_choice": {"enabled": True, "display_name": "Image name",
                                "validation_regex": "^quay.io/"}}}},
        {"display_name": "Other", "slug": "other"}]
    dom = render({"profile": "ds", "image": "scipy"}, profiles=profiles)
    select = dom.find("select", name="profile-option-ds--image")
    assert dom.find("label", for_=select.attrs["id"]).text() == "Image"
    opts = {o.attrs["value"]: "selected" in o.attrs for o in select.find_all("option")}
    assert opts == {"minimal": False, "scipy": True, "unlisted-choice": False}
    other = dom.by_id(select.attrs["id"] + "-other")
    assert other.attrs["data-name"] == "profile-option-ds--image--unlisted-choice"
    assert "name" not in other.attrs  # the script names it when "Other…" is chosen
    assert other.attrs["pattern"] == "^quay.io/"
    dom = render({"profile": "ds", "image--unlisted-choice": "quay.io/me/img"}, profiles=profiles)
    select = dom.find("select", name="profile-option-ds--image")
    chosen = [o.attrs["value"] for o in select.find_all("option") if "selected" in o.attrs]
    assert chosen == ["unlisted-choice"]
    assert dom.by_id(select.attrs["id"] + "-other").attrs["value"] == "quay.io/me/img"


async def test_render_options_form_asks_the_spawner():
    class FakeRegistry:
        budgets = GpuBudgets()  # none set: the form shows no budget line

        async def wait_ready(self, grace=5.0):
            pass

        def snapshot(self):
            return snapshot()

    class FakeSpawner:
        user_options = {"cluster": "onprem"}
        hub = SimpleNamespace(base_url="/hub/")

        def _groups(self):
            return frozenset({"gpu-users"})

        async def profiles(self):
            return initialised(PROFILES)

        async def registry(self):
            return FakeRegistry()

    dom = parse(await form.render_options_form(FakeSpawner()))
    assert [r.attrs["value"] for r in dom.find_all("input", type="radio")] == ["cpu", "a100"]
    assert options(dom, "fs-cluster")["onprem"]["selected"]
    assert options(dom, "fs-cluster")["secure"]["disabled"]


@pytest.mark.parametrize("name", ["launch_form.js", "launch_form_rules.js"])
def test_script_is_plain_es2019(name):
    js = (form.TEMPLATES / name).read_text()
    code = re.sub(r"/\*.*?\*/|//[^\n]*", "", js, flags=re.S)
    assert not re.search(r"\?\.[A-Za-z_(\[]|\?\?", code), "optional chaining / nullish coalescing are ES2020"
    assert "import " not in code and "</script" not in js.lower()


def test_page_script_parses(tmp_path):
    """What the page runs: both files inside one function."""
    path = tmp_path / "page.js"
    path.write_text(str(form.script()))
    result = subprocess.run([node(), "--check", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# ---- the script's rules are form.py's rules ------------------------------------------

def node() -> str:
    path = shutil.which("node")
    assert path, "node is needed to test the launch form's script (`make test` needs it for configurable-http-proxy)"
    return path


RUN_RULES = r"""
const fs = require("fs");
const vm = require("vm");
const input = JSON.parse(fs.readFileSync(0, "utf8"));
const source = fs.readFileSync(input.path, "utf8") + "\nlaunchRules";
const rules = vm.runInContext(source, vm.createContext({}))(input.consts);
process.stdout.write(JSON.stringify(input.cases.map(function (c) {
  const gpus = rules.gpuRows(c.clusters, c.profile, c.chosen);
  const missing = rules.missingRow("nvidia-b200", "nvidia-b200");
  return {clusters: rules.clusterRows(c.clusters, c.profile), table: rules.tableRows(c.clusters, c.profile),
          gpus: gpus, limits: gpus.concat([missing]).map(rules.countLimits), missing: missing};
})));
"""


def python_rules(case: dict) -> dict:
    gpus = form.gpu_rows(case["clusters"], case["profile"], case["chosen"])
    missing = form.missing_row("nvidia-b200", "nvidia-b200")
    return {"clusters": form.cluster_rows(case["clusters"], case["profile"]),
            "table": form.table_rows(case["clusters"], case["profile"]),
            "gpus": gpus, "limits": [form.count_limits(row) for row in gpus + [missing]], "missing": missing}


def rule_cases() -> list[dict]:
    """Every profile (and none) x every cluster choice, over inventories that exercise every rule."""
    base = snapshot()
    lab = ClusterSnapshot("lab", "Teaching Lab", "", "", visibility="namespace")  # CPU only
    gone = ClusterSnapshot("old", "Old A100s", "campus", "IT", healthy=False, health_reason="timeout",
                           gpus={A100: exact(A100, "NVIDIA A100 40GB", 4, 4, 4)})
    inventories = [base, snapshot(burst_healthy=False), snapshot(h100_free=0), snapshot(secure_groups={"gpu-users"}),
                   InventorySnapshot(base.clusters + (lab, gone), taken_at=base.taken_at)]
    profiles = [form.rule_profile(p) for p in initialised(PROFILES + [
        {"display_name": "TPU", "slug": "tpu", "gpu": {"type": "nvidia-b200", "count": 2}},
        {"display_name": "Lab", "slug": "lab", "clusters": {"allowed": ["lab", "regional"]}},
        {"display_name": "Any", "slug": "any", "gpu": {"type": "any", "count": 2}}])] + [None]
    cases = []
    for inventory in inventories:
        clusters = availability(inventory, ALICE)["clusters"]
        for profile in profiles:
            for chosen in ["auto", "nowhere"] + [c["name"] for c in clusters]:
                cases.append({"clusters": clusters, "profile": profile, "chosen": chosen})
    return cases


def test_script_rules_agree_with_form_py():
    """The page re-applies the rules in JavaScript: same rows, labels, reasons, limits and table."""
    cases = rule_cases()
    stdin = json.dumps({"path": str(form.TEMPLATES / "launch_form_rules.js"), "consts": form.CONSTS,
                        "cases": cases})
    result = subprocess.run([node(), "-e", RUN_RULES], input=stdin, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    from_script = json.loads(result.stdout)
    assert len(from_script) == len(cases)
    for case, js in zip(cases, from_script):
        assert js == python_rules(case), f"profile {(case['profile'] or {}).get('slug')}, cluster {case['chosen']}"
