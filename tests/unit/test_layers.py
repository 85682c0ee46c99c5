"""The layers of DESIGN.md hold: import-linter checks the contracts in ``.importlinter``.

The first test runs the linter over the package and fails with its report. The others
plant one offending import in a copy of the package and check that the matching
contract breaks, so none of the contracts can pass without looking.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / ".importlinter"


def lint(package_parent: Path, *contracts: str) -> subprocess.CompletedProcess:
    """``lint-imports`` with the project's contracts, over the ``fedspawner`` found in ``package_parent``."""
    code = ("import sys; from importlinter.cli import lint_imports; "
            f"sys.exit(lint_imports(config_filename={str(CONFIG)!r}, limit_to_contracts={contracts!r}, "
            "no_cache=True, no_logo=True))")
    # import-linter puts the working directory first on the path: the fedspawner there is the one checked
    # (-I: whatever PYTHONPATH says).
    return subprocess.run([sys.executable, "-I", "-c", code], cwd=package_parent, capture_output=True,
                          text=True, timeout=300)


def test_the_package_keeps_every_layer_contract():
    done = lint(ROOT)
    assert done.returncode == 0, f"import-linter found imports that break the layers:\n{done.stdout}{done.stderr}"
    assert "0 broken" in done.stdout


# (contract id, file planted in the copy, its text, what the linter's report names)
VIOLATIONS = [
    ("federation-core", "federation/planted.py", "from ..spawner import options\n",
     "fedspawner.federation is not allowed to import fedspawner.spawner"),
    ("light-client", "client/planted.py", "import tornado\n",
     "fedspawner.client is not allowed to import tornado"),
    ("light-client", "client/planted.py", "def later():\n    from ..gateway import errors\n",
     "fedspawner.client is not allowed to import fedspawner.gateway"),
    ("client-via-jobs", "client/planted.py", "from ..federation import model\n",
     "fedspawner.client is not allowed to import fedspawner.federation"),
    ("layers", "jobs/planted.py", "from ..gateway import errors\n",
     "fedspawner.jobs is not allowed to import fedspawner.gateway"),
    ("deploy-sandbox", "deploy/planted.py", "from ..sandbox import topology\n",
     "fedspawner.deploy is not allowed to import fedspawner.sandbox"),
    # A lazy import inside a function counts: the follower reaching back for the widget is a cycle.
    ("acyclic", "client/follow.py", "\n\ndef _later():\n    from . import widget\n",
     "No cycles are allowed in fedspawner.client"),
]


@pytest.fixture(scope="module")
def package_copy(tmp_path_factory):
    """A pristine copy of the package's sources (restored by each test that plants an import)."""
    dest = tmp_path_factory.mktemp("layers")
    shutil.copytree(ROOT / "fedspawner", dest / "fedspawner",
                    ignore=shutil.ignore_patterns("__pycache__", "labextension", "sources", "templates"))
    return dest


@pytest.mark.parametrize("contract,path,text,report", VIOLATIONS,
                         ids=[f"{v[0]}:{v[1]}" for v in VIOLATIONS])
def test_a_planted_import_breaks_its_contract(package_copy, contract, path, text, report):
    target = package_copy / "fedspawner" / path
    original = target.read_text() if target.exists() else None
    target.write_text((original or "") + text)
    try:
        done = lint(package_copy, contract)
    finally:
        if original is None:
            target.unlink()
        else:
            target.write_text(original)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "BROKEN" in done.stdout and report in done.stdout, done.stdout
