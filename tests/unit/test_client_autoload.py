"""``fedspawner kernel-autoload``: a marked block in the shared kernel config file, nothing else touched."""

from __future__ import annotations

from pathlib import Path

from traitlets.config.loader import PyFileConfigLoader

from fedspawner.client import autoload

ADMIN = """c = get_config()  # noqa
c.InteractiveShellApp.extensions = ["autoreload"]
c.InteractiveShellApp.exec_lines = ["%autoreload 2"]"""  # no newline at the end, as editors leave it


def extensions(path: Path) -> list[str]:
    """The extensions a kernel reading ``path`` loads (IPython's own loader)."""
    value = PyFileConfigLoader(path.name, str(path.parent)).load_config().InteractiveShellApp.extensions
    return value.get_value([]) if hasattr(value, "get_value") else list(value)  # appended to the default


def test_enable_creates_the_file_and_kernels_load_the_extension(tmp_path):
    path = autoload.config_file(prefix=tmp_path)
    assert path == tmp_path / "etc" / "ipython" / "ipython_kernel_config.py"
    assert autoload.enable(path) and autoload.is_enabled(path)
    assert extensions(path) == ["fedspawner"]
    assert not autoload.enable(path)  # once only
    assert path.read_text().count(autoload.BEGIN) == 1
    assert autoload.disable(path) and not path.exists()  # nothing else was in it
    assert not autoload.disable(path)


def test_an_admins_settings_are_kept(tmp_path):
    path = tmp_path / "ipython_kernel_config.py"
    path.write_text(ADMIN)
    autoload.enable(path)
    assert path.read_text().startswith(ADMIN + "\n")
    assert extensions(path) == ["autoreload", "fedspawner"]
    path.write_text(path.read_text() + 'c.InteractiveShellApp.exec_lines.append("import numpy")\n')  # added later
    assert autoload.disable(path) and not autoload.is_enabled(path)
    assert path.read_text() == ADMIN + "\n\n" + 'c.InteractiveShellApp.exec_lines.append("import numpy")\n'
    assert extensions(path) == ["autoreload"]


def test_command_line(tmp_path, monkeypatch, capsys):
    assert autoload.main(["status", "--prefix", str(tmp_path)]) == 1
    assert autoload.main(["enable", "--prefix", str(tmp_path)]) == 0
    assert "Enabled" in capsys.readouterr().out
    assert autoload.main(["status", "--prefix", str(tmp_path)]) == 0
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    assert autoload.main(["enable", "--user"]) == 0
    assert autoload.is_enabled(tmp_path / "ipython" / "profile_default" / "ipython_kernel_config.py")
    assert autoload.main(["disable", "--prefix", str(tmp_path)]) == 0
    assert "Disabled" in capsys.readouterr().out.splitlines()[-1]
    (tmp_path / "not-a-folder").write_text("")
    assert autoload.main(["enable", "--prefix", str(tmp_path / "not-a-folder")]) == 1
    assert "can't change" in capsys.readouterr().err
