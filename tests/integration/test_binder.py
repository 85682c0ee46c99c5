"""binder/: repo2docker's ``postBuild`` and ``start`` as an unprivileged user in a fresh HOME and venv.

As repo2docker would: the repository's files are copied into the user's home, a fresh
virtualenv stands in for the image's environment, ``binder/postBuild`` runs once from
the repository's root, then ``binder/start CMD`` runs, and CMD (standing in for the
notebook server) starts a real IPython kernel with jupyter_client that submits a job
with ``%%fedsubmit`` and watches it reach Succeeded; then the example notebook runs
end to end with nbclient.

Kept to a few minutes warm: the sandbox binaries the root build already cached are
copied into the user's ``~/.cache/fedspawner`` (the Go build as that user would take
many minutes), so is the Lab extension ``make setup`` built (postBuild's ``pip install``
then packages it without running npm), and pip installs from a wheelhouse built once
from PyPI into the cache (``PIP_FIND_LINKS`` + ``PIP_NO_INDEX``; postBuild itself is
unchanged). The demo's
sandbox runs in another address block than the test sandbox
(``FEDSPAWNER_TEST_BINDER_ADDRESS_BLOCK``, default the test block + 6) and on ports
from ``FEDSPAWNER_TEST_BASE_PORT`` + 200.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from fedspawner.sandbox.binaries import cache_root, ensure_binaries

from .sandbox_fixtures import TEST_BASE_PORT, TEST_STATE_DIR

# Binder's cache gets the root build's kwok too (postBuild's `sandbox build` builds it otherwise).
pytestmark = pytest.mark.kwok

REPO = Path(__file__).resolve().parents[2]
LAB_BUILD = Path("fedspawner") / "labextension"
BLOCK = int(os.environ.get("FEDSPAWNER_SANDBOX_ADDRESS_BLOCK", "0") or 0)
BINDER_BLOCK = os.environ.get("FEDSPAWNER_TEST_BINDER_ADDRESS_BLOCK", str((BLOCK + 6) % 12))
USER = f"fsbinder{BLOCK}"
ROOT = TEST_STATE_DIR.parent / "binder"
HOME = ROOT / "home"

KERNEL_CHECK = r'''
"""Runs under binder/start: a real kernel submits a job from a cell and watches it."""
import json, sys, time
from jupyter_client.manager import start_new_kernel

km, kc = start_new_kernel(kernel_name="python3")
try:
    def run(code, timeout=120):
        reply = kc.execute_interactive(code, timeout=timeout, output_hook=lambda msg: None)
        assert reply["content"]["status"] == "ok", reply["content"]
    run("""%%fedsubmit job -n binder-check --detach
print("hello from a sandbox pod")
""")
    run("""
import json, time
from fedspawner import client
deadline = time.monotonic() + 90
job = client.jobs()[0]
while time.monotonic() < deadline and job.phase not in ("Succeeded", "Failed"):
    time.sleep(0.5)
    job = job.refresh()
open("check-result.json", "w").write(json.dumps({"phase": job.phase, "cluster": job.cluster, "name": job.name,
                                                 "log": list(client.logs(job.id))}))
""")
finally:
    kc.stop_channels()
    km.shutdown_kernel(now=True)
print(open("check-result.json").read())
'''


def _digest(*paths: Path) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.read_bytes())
    return h.hexdigest()[:12]


def wheelhouse(python: str) -> Path:
    """The dependencies of ``.[hub,singleuser]`` as wheels for ``python`` (built once per pyproject and Python)."""
    version = subprocess.run([python, "-c", "import sys; print(sys.version.split()[0])"], capture_output=True,
                             text=True, check=True).stdout.strip()
    house = cache_root() / f"binder-wheels-{_digest(REPO / 'pyproject.toml')}-py{version}"
    if not (house / ".complete").exists():
        house.mkdir(parents=True, exist_ok=True)
        subprocess.run([python, "-m", "pip", "wheel", "-q", f"{REPO}[hub,singleuser]", "hatchling",
                        "hatch-jupyter-builder", "-w", str(house)], check=True, timeout=900)
        for own in house.glob("jupyterhub_fedspawner-*.whl"):
            own.unlink()  # postBuild builds fedspawner itself from the repository
        (house / ".complete").touch()
    return house


def as_user(argv: list[str], env: dict[str, str], cwd: Path, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(argv, env=env, cwd=cwd, user=USER, group=USER, extra_groups=[], capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def binder_user():
    if os.geteuid() != 0:
        pytest.skip("needs root to create the unprivileged user (useradd)")
    try:
        pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "--no-create-home", "--shell", "/bin/bash", USER], check=True)
    shutil.rmtree(ROOT, ignore_errors=True)
    repo = HOME / "repo"
    repo.mkdir(parents=True)
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, capture_output=True,
                           check=True).stdout.decode().split("\0")
    with tarfile.open(ROOT / "repo.tar", "w") as tar:
        for name in filter(None, files):
            if (REPO / name).exists():
                tar.add(REPO / name, arcname=name, recursive=False)
        # The Lab extension as `make setup` built it (newer than its sources, so postBuild's
        # `pip install` packages it without running npm again): like the Go binaries below.
        if (REPO / LAB_BUILD / "package.json").exists():
            tar.add(REPO / LAB_BUILD, arcname=str(LAB_BUILD))
    with tarfile.open(ROOT / "repo.tar") as tar:
        tar.extractall(repo, filter="tar")
    bins = ensure_binaries(log=lambda *_: None)  # the root build, copied: see the module docstring
    cache = HOME / ".cache" / "fedspawner"
    for binary in (bins.kubebin, bins.kwok, bins.bindshim):
        shutil.copytree(binary.parent, cache / binary.parent.name)
    os.chmod(ROOT.parent, 0o755)
    # A Python every user may run (the test's own may live in root's home), as Binder's image has.
    base_python = shutil.which(f"python3.{sys.version_info.minor}", path="/usr/local/bin:/usr/bin:/bin")
    if not base_python:
        pytest.skip(f"no system-wide python3.{sys.version_info.minor} for the unprivileged user")
    house = shutil.copytree(wheelhouse(base_python), ROOT / "wheels")  # root's cache is not the user's to read
    subprocess.run(["chown", "-R", f"{USER}:{USER}", str(ROOT)], check=True)
    env = {"HOME": str(HOME), "PATH": f"{HOME / 'venv' / 'bin'}:/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8",
           "PIP_FIND_LINKS": str(house), "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1",
           "PIP_NO_COMPILE": "1",  # bytecode is written at first import instead
           "FEDSPAWNER_SANDBOX_ADDRESS_BLOCK": BINDER_BLOCK, "FEDSPAWNER_BINDER_BASE_PORT": str(TEST_BASE_PORT + 200),
           "FEDSPAWNER_BINDER_STATE": str(HOME / ".fedspawner-binder")}
    venv = as_user([base_python, "-m", "venv", str(HOME / "venv")], env, repo, 120)
    assert venv.returncode == 0, venv.stderr
    try:
        yield repo, env
    finally:
        as_user([str(HOME / "venv" / "bin" / "python"), "binder/fedspawner_binder.py", "down"], env, repo, 120)


def test_postbuild_and_start_run_a_job_from_a_kernel(binder_user):
    repo, env = binder_user
    built = as_user(["bash", "binder/postBuild"], env, repo, 900)
    assert built.returncode == 0, built.stdout + built.stderr
    assert (HOME / "venv" / "etc" / "ipython" / "ipython_kernel_config.py").read_text().count("fedspawner") >= 1
    (repo / "check_kernel.py").write_text(KERNEL_CHECK)
    started = as_user(["binder/start", "python", "check_kernel.py"], env, repo, 600)
    log = (HOME / ".fedspawner-binder" / "start.log")
    assert started.returncode == 0, started.stdout + started.stderr + (log.read_text() if log.exists() else "")
    assert '"phase": "Succeeded"' in started.stdout, started.stdout + started.stderr
    assert "hello from a sandbox pod" in started.stdout
    # The pods really ran as the unprivileged user.
    owners = {p.owner() for p in (HOME / ".fedspawner-binder" / "sandbox").rglob("*") if p.is_file()}
    assert owners == {USER}

    notebook = as_user(["binder/start", "jupyter", "nbconvert", "--to", "notebook", "--execute",
                        "--ExecutePreprocessor.timeout=180", "--output", str(HOME / "executed.ipynb"),
                        "binder/fedspawner-demo.ipynb"], env, repo, 600)
    assert notebook.returncode == 0, notebook.stdout + notebook.stderr
