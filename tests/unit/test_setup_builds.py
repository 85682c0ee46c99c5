"""Set-up's builds: they run with the bare interpreter (before the virtualenv exists), and the
operators' one ``go build`` is mapped back to each operator's binary."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from fedspawner.sandbox.operator_catalog import OPERATORS
from fedspawner.sandbox.operators.build import built_name

REPO = Path(__file__).resolve().parents[2]
BUILDERS = ["fedspawner.sandbox.binaries", "fedspawner.sandbox.workload", "fedspawner.sandbox.chp",
            "fedspawner.sandbox.operators.build"]


@pytest.mark.parametrize("module", BUILDERS)
def test_a_builder_imports_with_the_standard_library_alone(module):
    """`make setup` starts the Go builds and the workload downloads with the bare interpreter while
    the virtualenv installs: no site-packages (-S), only the checkout on the path."""
    probe = (f"import sys; sys.path.insert(0, {str(REPO)!r}); import {module}; "
             "print(sorted(m.split('.')[0] for m in sys.modules if m.split('.')[0] not in sys.stdlib_module_names"
             " and not m.startswith(('fedspawner', '__main__'))))")
    proc = subprocess.run([sys.executable, "-I", "-S", "-c", probe], capture_output=True, text=True, cwd="/")
    assert proc.returncode == 0, proc.stderr[-1500:]
    assert proc.stdout.strip() == "[]", proc.stdout


def test_each_operator_binary_is_found_under_the_name_go_gives_it():
    names = {op.name: built_name(op.import_path) for op in OPERATORS.values()}
    assert names == {"jobset": "jobset", "trainer": "trainer-controller-manager", "kueue": "kueue",
                     "spark-operator": "operator"}
    # one `go build -o DIR/` per group: two of a group may not share a file name
    for group in {op.build_group for op in OPERATORS.values()}:
        built = [names[op.name] for op in OPERATORS.values() if op.build_group == group]
        assert len(set(built)) == len(built)


@pytest.mark.parametrize("path, name", [("example.com/tool/v2", "tool"), ("example.com/tool/v12", "tool"),
                                        ("example.com/tool/v1", "v1"), ("example.com/x/cmd/run", "run"),
                                        ("tool", "tool")])
def test_go_names_a_binary_after_its_package_not_its_major_version(path, name):
    assert built_name(path) == name


def test_set_up_builds_the_operators_the_default_topology_runs_and_leaves_kueue_to_the_tests():
    """`make setup` (and so `make demo`) builds what the default topology runs; Kueue, which only
    the tests' own topologies run, is built by `make test` in the background (tests/background_builds.py)."""
    makefile = (REPO / "Makefile").read_text()
    built = {name for names in re.findall(r"ensure_operators\(\[([^\]]*)\]\)", makefile)
             for name in re.findall(r"'([^']+)'", names)}
    from fedspawner.sandbox.manager import default_topology_path
    from fedspawner.sandbox.topology import load_topology

    default = load_topology(default_topology_path())
    assert built == {name for cluster in default.clusters for name in cluster.operators}
    assert "kueue" not in built and set(OPERATORS) - built == {"kueue"}
