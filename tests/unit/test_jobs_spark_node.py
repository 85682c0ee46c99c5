"""Unit tests for the Spark standalone launcher that runs inside job pods.

The worker supervisor is exercised for real: a loopback socket stands in for
the Spark master and a sleeping Python process for the Spark Worker.
"""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time

import pytest

from fedspawner.jobs.render import spark_node

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


@pytest.fixture
def master():
    """A listening loopback socket standing in for the Spark master."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    stop = threading.Event()

    def accept():
        server.settimeout(0.05)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                conn.close()
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server, stop
    stop.set()
    thread.join()
    server.close()


def test_worker_stops_when_the_master_goes_away(master, tmp_path):
    server, stop = master
    url = f"spark://127.0.0.1:{server.getsockname()[1]}"
    pidfile = tmp_path / "pid"
    worker = [sys.executable, "-c", "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); "
              "time.sleep(60)", str(pidfile)]
    timer = threading.Timer(1.0, lambda: (stop.set(), server.close()))
    before = signal.getsignal(signal.SIGTERM)
    began = time.monotonic()
    timer.start()
    try:
        code = spark_node.run_worker(url, [], wait=5, poll=0.05, command=worker)
    finally:
        timer.cancel()
    assert code == 0
    assert time.monotonic() - began < 10
    with pytest.raises(ProcessLookupError):  # the worker was stopped and reaped, not left behind
        os.kill(int(pidfile.read_text()), 0)
    assert signal.getsignal(signal.SIGTERM) == before


def test_worker_exit_code_is_passed_on(master):
    server, _ = master
    url = f"spark://127.0.0.1:{server.getsockname()[1]}"
    command = [sys.executable, "-c", "raise SystemExit(3)"]
    assert spark_node.run_worker(url, [], wait=5, poll=0.05, command=command) == 3


def test_worker_gives_up_quietly_when_no_master_ever_comes():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    began = time.monotonic()
    assert spark_node.run_worker(f"spark://127.0.0.1:{port}", [], wait=0.3, poll=0.05,
                                 command=SLEEPER) == 0
    assert time.monotonic() - began < 5


def test_spark_tool_search_order(tmp_path, monkeypatch):
    home = tmp_path / "spark"
    (home / "bin").mkdir(parents=True)
    tool = home / "bin" / "spark-class"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    assert spark_node.spark_tool("spark-class", {"SPARK_HOME": str(home), "PATH": ""}) == str(tool)
    assert spark_node.spark_tool("spark-class", {"PATH": str(home / "bin")}) == str(tool)
    monkeypatch.setitem(sys.modules, "pyspark", None)  # no pyspark to fall back on
    with pytest.raises(SystemExit, match="no Spark"):
        spark_node.spark_tool("spark-class", {"PATH": str(tmp_path)})


def test_helpers():
    assert spark_node.parse_master("spark://etl-driver-0.etl:7077") == ("etl-driver-0.etl", 7077)
    with pytest.raises(SystemExit):
        spark_node.parse_master("http://x:1")
    assert spark_node.local_ip({"SPARK_LOCAL_IP": "127.0.0.9"}) == "127.0.0.9"
    with pytest.raises(SystemExit, match="usage"):
        spark_node.main([])
    with pytest.raises(SystemExit, match="master URL"):
        spark_node.main(["worker"])


def test_launcher_runs_with_a_bare_interpreter(tmp_path):
    script = tmp_path / "fedspawner_spark.py"
    script.write_text(open(spark_node.__file__, encoding="utf-8").read())
    env = {"PATH": os.defpath}
    result = subprocess.run([sys.executable, "-I", str(script), "bogus"], capture_output=True, text=True,
                            env=env, timeout=30)
    assert result.returncode != 0 and "usage" in result.stderr


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _fake_master(port: int, pidfile) -> list[str]:
    """A stand-in Spark master: listens on ``port`` after a moment, records its pid."""
    code = ("import os, socket, sys, time; open(sys.argv[2], 'w').write(str(os.getpid())); time.sleep(0.3); "
            "s = socket.socket(); s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen(8); print('master up'); "
            "sys.stdout.flush(); time.sleep(60)")
    return [sys.executable, "-c", code, str(port), str(pidfile)]


def test_driver_runs_the_master_then_submit_and_stops_the_master(tmp_path, monkeypatch):
    monkeypatch.setenv("SPARK_LOCAL_IP", "127.0.0.1")
    monkeypatch.setenv("FEDSPAWNER_MASTER_LOG", str(tmp_path / "master.log"))
    port, pidfile = _free_port(), tmp_path / "master.pid"
    # spark-submit's stand-in exits 4, and only runs once the master listens.
    submit = [sys.executable, "-c", "import socket, sys; "
              "socket.create_connection(('127.0.0.1', int(sys.argv[1]))); sys.exit(4)", str(port)]
    code = spark_node.run_driver([], master_command=_fake_master(port, pidfile), submit_command=submit,
                                 port=port, wait=20, poll=0.05)
    assert code == 4
    assert "master up" in (tmp_path / "master.log").read_text()
    with pytest.raises(ProcessLookupError):  # the master was stopped and reaped with the driver
        os.kill(int(pidfile.read_text()), 0)


def test_driver_reports_a_master_that_fails(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SPARK_LOCAL_IP", "127.0.0.1")
    monkeypatch.setenv("FEDSPAWNER_MASTER_LOG", str(tmp_path / "master.log"))
    master = [sys.executable, "-c", "print('no java here'); raise SystemExit(7)"]
    code = spark_node.run_driver([], master_command=master, submit_command=SLEEPER, port=_free_port(),
                                 wait=20, poll=0.05)
    assert code == 7
    err = capsys.readouterr().err
    assert "exited with code 7" in err and "no java here" in err
