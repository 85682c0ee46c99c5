"""The README stays true to the code and reads cleanly: profile keys, and no stray fragments."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
#: Keys of KubeSpawner's own ``profile_list`` schema (the README documents only fedspawner's extensions).
KUBESPAWNER_KEYS = {"display_name", "slug", "description", "default", "kubespawner_override", "profile_options"}


def _prose_lines() -> list[str]:
    """The README's lines, with the insides of code blocks blanked."""
    lines, fenced = [], False
    for line in README.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            lines.append("")
        else:
            lines.append("" if fenced else line)
    return lines


def _profile_keys_read_by_the_spawner() -> set[str]:
    """Every key the spawner reads from a profile (``profile.get("x")``, ``(profile or {}).get("x")``)."""
    keys = set()
    for path in (ROOT / "fedspawner" / "spawner").glob("*.py"):
        keys |= set(re.findall(r"\b(?:profile|p)(?: or \{\}\))?\.get\(\"(\w+)\"", path.read_text()))
    return keys


def test_the_profiles_bullet_names_every_profile_key_fedspawner_adds():
    bullet = re.search(r"^- \*\*Profiles\*\*(.*?)(?=^- |\Z)", README, re.M | re.S).group(1)
    extensions = _profile_keys_read_by_the_spawner() - KUBESPAWNER_KEYS
    assert {"clusters", "gpu", "allowed_groups"} <= extensions  # the scan finds what it looks for
    assert sorted(k for k in extensions if f"`{k}" not in bullet) == []


def test_no_list_item_continues_after_a_blank_line():
    """An indented line after a blank one is a stray fragment (it renders as a paragraph of its own)."""
    lines = _prose_lines()
    stray = [f"{n + 1}: {line}" for n, line in enumerate(lines)
             if n and not lines[n - 1].strip() and re.match(r"^ {2}(?![-*] |\d+\. )\S", line)]
    assert stray == []
