"""Build the operators from the Go module proxy and cache them by version.

Operators whose dependencies resolve together are built in one wrapper Go module with
exact ``require`` lines (the proxy's version lists are unreliable for some of them, exact
versions always resolve); the wrapper repeats the ``replace`` directives of the modules it
requires, as Go ignores those of dependencies. The wrapper always requires every operator
of its group, so a binary is the same whichever of them a topology asks for. Binaries and
the manifests the sandbox installs (CRDs, webhook configurations, Trainer's default
runtime, copied from the module zips) are cached under
``<cache>/operators-<group>-<hash of the wrapper>/``.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ..binaries import BuildError, cache_root
from ..operator_catalog import OPERATORS, TRAINER_DEFAULT_RUNTIME, Operator

WRAPPER_MODULE = "fedspawner.local/sandbox-operators"
#: Nice level of the Go builds: they take minutes and must not starve the rest of the machine.
NICE = 10

_REPLACE_LINE = re.compile(r"^\s*(\S+)(?:\s+(\S+))?\s+=>\s+(\S+)\s+(v\S+)\s*$")


@dataclass(frozen=True)
class OperatorBuild:
    """A built operator: its binary and the directory holding its manifests (module-relative paths)."""

    operator: Operator
    binary: Path
    manifests: Path


def parse_gomod(text: str) -> tuple[str | None, list[str]]:
    """The ``go`` version and the module-version ``replace`` directives of a go.mod.

    Replacements by a local directory are left out: they make no sense outside the module.
    """
    go_version, replaces, in_block = None, [], False
    for raw in text.splitlines():
        line = raw.split("//", 1)[0].rstrip()
        if line.startswith("go "):
            go_version = line.split()[1]
        elif line.startswith("replace ("):
            in_block = True
        elif in_block and line.strip() == ")":
            in_block = False
        elif in_block or line.startswith("replace "):
            body = line.strip().removeprefix("replace ").strip()
            match = _REPLACE_LINE.match(body)
            if match:
                old, old_version, new, new_version = match.groups()
                left = f"{old} {old_version}" if old_version else old
                replaces.append(f"{left} => {new} {new_version}")
    return go_version, replaces


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version))


def wrapper_gomod(ops: list[Operator], upstream: dict[str, str] | None = None) -> str:
    """The wrapper module's go.mod: exact requires, and the upstream modules' go version
    (the highest) and replace directives (``upstream`` maps module path to go.mod text)."""
    go_version, replaces = "1.24", []
    for op in ops:
        version, reps = parse_gomod((upstream or {}).get(op.module, ""))
        if version and _version_key(version) > _version_key(go_version):
            go_version = version
        replaces += [r for r in reps if r not in replaces]
    lines = [f"module {WRAPPER_MODULE}", "", f"go {go_version}", "", "require ("]
    lines += [f"\t{op.module} {op.version}" for op in sorted(ops, key=lambda o: o.module)]
    lines.append(")")
    if replaces:
        lines += ["", "replace ("] + [f"\t{r}" for r in replaces] + [")"]
    return "\n".join(lines) + "\n"


def group_members(group: str) -> list[Operator]:
    return [op for op in OPERATORS.values() if op.build_group == group]


def build_dir(group: str) -> Path:
    """Where the group's binaries and manifests are cached: keyed by the pinned versions."""
    key = hashlib.sha256(wrapper_gomod(group_members(group)).encode()).hexdigest()[:12]
    return cache_root() / f"operators-{group}-{key}"


def _go() -> str:
    go = shutil.which("go")
    if not go:
        raise BuildError("go is needed to build the sandbox's operators but is not on PATH; install Go 1.24 or newer")
    return go


def _go_env() -> dict[str, str]:
    env = dict(os.environ, CGO_ENABLED="0", GOFLAGS="-mod=mod -trimpath")
    env.setdefault("GOTOOLCHAIN", "auto")  # the operators' go.mod may ask for a newer Go
    return env


def _run(argv: list[str], cwd: Path, what: str) -> str:
    proc = subprocess.run(argv, cwd=cwd, env=_go_env(), capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
        raise BuildError(f"{what} failed ({' '.join(argv)}):\n{tail}")
    return proc.stdout


def _download(ops: list[Operator], workdir: Path) -> dict[str, dict]:
    """Fetch the operators' modules into the Go module cache; their ``go mod download -json`` records."""
    (workdir / "go.mod").write_text(wrapper_gomod(ops))
    out = _run([_go(), "mod", "download", "-json", *(f"{op.module}@{op.version}" for op in ops)], workdir,
               "downloading the operators' Go modules")
    records = json.loads("[" + out.replace("}\n{", "},\n{") + "]")
    failed = [r for r in records if r.get("Error")]
    if failed:
        raise BuildError(f"the Go module proxy did not serve {failed[0]['Path']}@{failed[0]['Version']}: "
                         f"{failed[0]['Error']}")
    return {r["Path"]: r for r in records}


def _copy_manifests(op: Operator, module_dir: Path, dest: Path) -> None:
    files = [*op.crds, *([op.webhooks] if op.webhooks else []),
             *([TRAINER_DEFAULT_RUNTIME] if op.name == "trainer" else [])]
    for rel in files:
        target = dest / op.name / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(module_dir / rel, target)


def _build_group(group: str, wanted: list[Operator], out: Path, log) -> None:
    members = group_members(group)
    with tempfile.TemporaryDirectory(prefix=f"fedspawner-{group}-") as tmp:
        work = Path(tmp)
        records = _download(members, work)
        upstream = {m: Path(r["GoMod"]).read_text() for m, r in records.items()}
        (work / "go.mod").write_text(wrapper_gomod(members, upstream))
        if not (out / "manifests").is_dir():  # copied whole, then renamed into place: read without a lock
            partial = out / "manifests.partial"
            shutil.rmtree(partial, ignore_errors=True)
            for op in members:
                _copy_manifests(op, Path(records[op.module]["Dir"]), partial)
            partial.rename(out / "manifests")
        if wanted:
            _compile(wanted, work, out, log)


def built_name(import_path: str) -> str:
    """The file name ``go build -o DIR/`` gives a main package: its last path element, or the one
    before a major-version suffix (``example.com/tool/v2`` builds ``tool``)."""
    parts = import_path.split("/")
    return parts[-2] if len(parts) > 1 and re.fullmatch(r"v([2-9]|[1-9]\d+)", parts[-1]) else parts[-1]


def _compile(wanted: list[Operator], work: Path, out: Path, log) -> None:
    """One ``go build`` for all of them: their compiles and links overlap, shared packages build once."""
    started = time.monotonic()
    names = ", ".join(f"{op.name} ({op.module} {op.version})" for op in wanted)
    log(f"building {names} into {out} (first run only)")
    binaries = work / "bin"
    binaries.mkdir()
    _run(["nice", "-n", str(NICE), _go(), "build", "-ldflags=-s -w", "-o", f"{binaries}/",
          *(op.import_path for op in wanted)], work, f"building the operators {names}")
    for op in wanted:  # go names each binary after its package; copied, then renamed into place at once
        partial = out / (op.binary + ".partial")
        shutil.move(binaries / built_name(op.import_path), partial)
        partial.rename(out / op.binary)
    log(f"built {', '.join(op.name for op in wanted)} in {time.monotonic() - started:.0f}s")


def _complete(out: Path, wanted: list[Operator]) -> bool:
    """Whether the wanted binaries and the group's manifests are in place (each binary is renamed
    into place whole, and the manifests before any binary, so this needs no lock)."""
    return (out / "manifests").is_dir() and all((out / op.binary).exists() for op in wanted)


def ensure_operators(names: tuple[str, ...] | list[str], log=print) -> dict[str, OperatorBuild]:
    """Return the named operators' builds, building whatever is missing from the cache."""
    ops = [OPERATORS[n] for n in dict.fromkeys(names)]
    result = {}
    for group in dict.fromkeys(op.build_group for op in ops):
        out = build_dir(group)
        wanted = [op for op in ops if op.build_group == group]
        out.mkdir(parents=True, exist_ok=True)
        if not _complete(out, wanted):  # built ones are used at once, even while another of the group builds
            with open(out.parent / f".operators-{group}.lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)  # one build of a group at a time across processes
                if not _complete(out, wanted):
                    _build_group(group, [op for op in wanted if not (out / op.binary).exists()], out, log)
        os.utime(out)  # marks the build as in use
        result.update({op.name: OperatorBuild(op, out / op.binary, out / "manifests" / op.name) for op in wanted})
    return result
