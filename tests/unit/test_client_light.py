"""The kernel side stays light: a single-user image needs only the base install.

The client, ``%load_ext fedspawner`` and ``fedspawner kernel-autoload`` are run in a fresh
interpreter in which the hub-side packages cannot be imported at all (as in an image
without them), and ``sys.modules`` is checked afterwards. The same rule holds for every
import in the source, run or not, through the ``light-client`` contract in ``.importlinter``
(``test_layers.py``); this test proves it where it matters, in a running kernel.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HUB_ONLY = ("jupyterhub", "kubespawner", "kubernetes_asyncio", "tornado", "yaml", "cryptography")

# Makes the hub-side packages unimportable, then runs the body and prints what got imported.
_PRELUDE = f"""
import importlib.abc, json, sys
BLOCKED = {HUB_ONLY!r}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None
sys.meta_path.insert(0, Block())
"""
_EPILOGUE = """
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules} & set(BLOCKED))))
"""


def _run(body: str) -> tuple[list[str], str]:
    code = _PRELUDE + textwrap.dedent(body) + _EPILOGUE
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    return json.loads(lines[-1]), "\n".join(lines[:-1])


def test_the_client_and_the_magics_import_nothing_from_the_hub_side():
    loaded, out = _run("""
        from fedspawner import client
        from fedspawner.client.options import submission_body
        body = submission_body("pytorch", "print(1)", nodes=2, gpus="nvidia-a100-40gb:1", cluster="onprem")
        from fedspawner.client import widget, follow
        from IPython.core.interactiveshell import InteractiveShell
        shell = InteractiveShell.instance()
        shell.run_line_magic("load_ext", "fedspawner")
        print("magics:", "fedsubmit" in shell.magics_manager.magics["cell"])
        print("body:", body["cluster"], body["gpus"]["count"])
    """)
    assert loaded == []
    assert "magics: True" in out and "body: onprem 1" in out


def test_kernel_autoload_runs_without_the_hub_side(tmp_path):
    loaded, out = _run(f"""
        from fedspawner.cli import main
        rc = main(["kernel-autoload", "enable", "--prefix", {str(tmp_path)!r}])
        print("rc:", rc, main(["kernel-autoload", "status", "--prefix", {str(tmp_path)!r}]))
    """)
    assert loaded == [] and "rc: 0 0" in out
    assert "fedspawner" in (tmp_path / "etc" / "ipython" / "ipython_kernel_config.py").read_text()


def test_a_hub_command_without_the_hub_side_says_what_to_install():
    code = _PRELUDE + "from fedspawner.cli import main\nsys.exit(main(['sandbox', 'status']))\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 1
    assert "pip install 'jupyterhub-fedspawner[hub]'" in done.stderr and "Traceback" not in done.stderr


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\[<>=!~ ;]", r, maxsplit=1)[0].lower().replace("_", "-") for r in requirements}


def test_the_base_install_pulls_in_no_hub_package():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    hub_packages = {"jupyterhub", "jupyterhub-kubespawner", "kubernetes-asyncio", "tornado", "cryptography", "pyyaml"}
    base = _names(project["dependencies"])
    extras = project["optional-dependencies"]
    assert not base & hub_packages
    assert not _names(extras["client"]) & hub_packages
    assert _names(extras["hub"]) >= hub_packages
    assert any("[hub" in r or ",hub" in r for r in extras["test"])  # `make setup` installs the hub side
