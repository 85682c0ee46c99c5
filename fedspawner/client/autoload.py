"""``fedspawner kernel-autoload enable|disable|status``: the magics in every kernel, on request.

IPython has no drop-in folder for kernel configuration: kernels read one file of a fixed
name, ``ipython_kernel_config.py``, in ``{sys.prefix}/etc/ipython`` (every kernel of that
environment), in ``/etc/ipython`` and in the user's profile, and admins keep their own
settings in those files. A package that shipped that file would replace an admin's on
install and delete it on uninstall, so fedspawner ships none. Instead ``enable`` adds a
marked block that loads the extension to the end of the file (creating it if need be),
keeping everything else in it; ``disable`` removes exactly that block (and the file, if
nothing else is left); ``status`` says whether the block is there. Each is safe to repeat.

    fedspawner kernel-autoload enable            # every kernel of this environment
    fedspawner kernel-autoload enable --user     # your own kernels (your IPython profile)
    python -m fedspawner.client.autoload status  # the same, without the fedspawner command

A single-user image runs ``enable`` once when it is built; without it, ``%load_ext
fedspawner`` in a notebook loads the magics just as well.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["BEGIN", "END", "config_file", "disable", "enable", "is_enabled", "main", "register", "run"]

FILENAME = "ipython_kernel_config.py"
BEGIN = "# >>> fedspawner kernel-autoload >>>"
END = "# <<< fedspawner kernel-autoload <<<"
BLOCK = f"""{BEGIN}
# Added by `fedspawner kernel-autoload enable`; `fedspawner kernel-autoload disable` removes it.
# Loads the fedspawner extension (%%fedsubmit, %fedjobs, %fedlogs, %fedcancel, %fedattach) in every
# IPython kernel that reads this file. Loading only registers the magics.
c = get_config()  # noqa: F821
c.InteractiveShellApp.extensions.append("fedspawner")
{END}
"""


def config_file(*, user: bool = False, prefix: str | Path | None = None) -> Path:
    """The kernel configuration file of an environment (``prefix``, this one by default), or with
    ``user`` of the user's default IPython profile (``$IPYTHONDIR`` is honoured)."""
    if user:
        from IPython.paths import get_ipython_dir

        return Path(get_ipython_dir()) / "profile_default" / FILENAME
    return Path(prefix or sys.prefix) / "etc" / "ipython" / FILENAME


def _without_block(text: str) -> tuple[str, bool]:
    """``text`` without our block, and whether it had one."""
    lines = text.splitlines(keepends=True)
    try:
        start = next(i for i, line in enumerate(lines) if line.rstrip() == BEGIN)
    except StopIteration:
        return text, False
    end = next((i for i in range(start, len(lines)) if lines[i].rstrip() == END), len(lines) - 1)
    return "".join(lines[:start] + lines[end + 1:]), True


def is_enabled(path: Path) -> bool:
    return path.is_file() and _without_block(path.read_text(encoding="utf-8"))[1]


def enable(path: Path) -> bool:
    """Add the block to ``path`` (created with its folders if missing); False if it was there."""
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    if _without_block(text)[1]:
        return False
    if text and not text.endswith("\n"):
        text += "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + ("\n" if text.strip() else "") + BLOCK, encoding="utf-8")
    return True


def disable(path: Path) -> bool:
    """Remove the block from ``path`` (and the file if nothing else is left); False if it was not there."""
    if not path.is_file():
        return False
    rest, had = _without_block(path.read_text(encoding="utf-8"))
    if not had:
        return False
    if rest.strip():
        path.write_text(rest.rstrip("\n") + "\n", encoding="utf-8")
    else:
        path.unlink()
    return True


def register(subparsers) -> None:
    """Add ``kernel-autoload`` to the ``fedspawner`` command."""
    parser = subparsers.add_parser(
        "kernel-autoload", help="load the job magics in every IPython kernel (or stop doing so)",
        description=__doc__.split("\n\n")[1])
    _arguments(parser)


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("enable", "disable", "status"),
                        help="status exits with 0 when enabled, 1 when not")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--user", action="store_true", help="your IPython profile instead of the environment")
    where.add_argument("--prefix", help="the environment's prefix (default: this Python's, %(default)s)",
                       default=sys.prefix)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    path = config_file(user=args.user, prefix=args.prefix)
    try:
        if args.action == "enable":
            done = enable(path)
            print(f"{'Enabled' if done else 'Already enabled'}: kernels reading {path} load fedspawner's magics.")
        elif args.action == "disable":
            done = disable(path)
            print(f"{'Disabled' if done else 'Not enabled'}: {path} does not load fedspawner's magics "
                  "(any other setting in it is kept).")
        else:
            done = is_enabled(path)
            print(f"{'enabled' if done else 'not enabled'}: {path}")
            return 0 if done else 1
    except OSError as err:
        print(f"fedspawner: can't change {path}: {err.strerror or err}. Run as a user who may write there, "
              "or use --user for your own kernels only.", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fedspawner.client.autoload",
                                     description=__doc__.split("\n\n")[1])
    _arguments(parser)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
