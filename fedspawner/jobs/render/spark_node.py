"""fedspawner's launcher for the pods of a per-job Spark standalone cluster.

This file is not imported by the hub: its source travels in the job's
ConfigMap (as ``fedspawner_spark.py``) and runs with the image's Python, so it
uses the standard library only and must stay compatible with Python 3.8.

    python3 fedspawner_spark.py master
    python3 fedspawner_spark.py worker spark://HOST:7077 [Worker options...]
    python3 fedspawner_spark.py driver [spark-submit arguments...]

``master`` replaces itself with Spark's ``spark-class`` Master. ``driver``
runs the job's master and its driver in one container: it starts the Master
(its output goes to ``$FEDSPAWNER_MASTER_LOG`` when set), runs
``spark-submit`` once the master accepts connections, then stops the master
and exits with spark-submit's code, so the pod ends when the application
does, on any Kubernetes version. ``worker`` supervises a Spark Worker: it waits
for the master to accept connections, starts the Worker, and once the master
has stopped accepting connections for a few checks in a row (the driver
finished, so its pod and the master in it are gone) it stops the Worker and
exits 0. Spark's own Worker would keep retrying for about a quarter of an hour
and then exit with an error.

Spark is found through ``SPARK_HOME``, then ``PATH``, then an installed
``pyspark`` package. Everything binds to ``SPARK_LOCAL_IP``, the pod's IP.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time

MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"
MASTER_PORT = 7077
MASTER_UI_PORT = 8080


def log(message):
    """Print a line prefixed for the job's log."""
    print("fedspawner: " + message, file=sys.stderr, flush=True)


def spark_tool(name, environ=None):
    """The path of a Spark launcher script (``spark-class``, ``spark-submit``)."""
    environ = os.environ if environ is None else environ
    candidates = []
    if environ.get("SPARK_HOME"):
        candidates.append(os.path.join(environ["SPARK_HOME"], "bin", name))
    found = shutil.which(name, path=environ.get("PATH"))
    if found:
        candidates.append(found)
    try:
        import pyspark
    except ImportError:
        pass
    else:
        candidates.append(os.path.join(os.path.dirname(pyspark.__file__), "bin", name))
    for candidate in candidates:
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise SystemExit("fedspawner: {} not found: this image has no Spark. Use an image with Spark "
                     "(SPARK_HOME set) or with pyspark installed.".format(name))


def local_ip(environ=None):
    """The address Spark binds to: ``SPARK_LOCAL_IP``, else the host name's."""
    environ = os.environ if environ is None else environ
    return environ.get("SPARK_LOCAL_IP") or socket.gethostbyname(socket.gethostname())


def parse_master(url):
    """``spark://host:7077`` → ``("host", 7077)``."""
    if not url.startswith("spark://"):
        raise SystemExit("fedspawner: not a Spark master URL: {!r}".format(url))
    host, _, port = url[len("spark://"):].rpartition(":")
    return host, int(port)


def reachable(host, port, timeout=2.0):
    """Whether something accepts TCP connections at ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def run_master():
    """Become the Spark master, bound to the pod IP."""
    command = _master_command()
    os.execv(command[0], command)


def _master_command():
    tool = spark_tool("spark-class")
    return [tool, MASTER_CLASS, "--host", local_ip(), "--port", str(MASTER_PORT),
            "--webui-port", str(MASTER_UI_PORT)]


def _tail(path, lines=30):
    try:
        with open(path, "rb") as f:
            return b"".join(f.readlines()[-lines:]).decode("utf-8", "replace")
    except OSError:
        return ""


def run_driver(arguments, master_command=None, submit_command=None, port=MASTER_PORT, wait=None, poll=0.2):
    """Run the master, then spark-submit with ``arguments``; return spark-submit's exit code.

    ``wait`` (seconds for the master to accept connections) defaults to
    ``FEDSPAWNER_MASTER_WAIT`` (300). ``master_command`` and ``submit_command``
    replace the Spark command lines (for tests).
    """
    wait = float(os.environ.get("FEDSPAWNER_MASTER_WAIT", "300")) if wait is None else wait
    log_path = os.environ.get("FEDSPAWNER_MASTER_LOG")
    output = open(log_path, "ab") if log_path else None
    try:
        master = subprocess.Popen(master_command or _master_command(), stdout=output, stderr=output)
    finally:
        if output is not None:
            output.close()
    try:
        deadline = time.monotonic() + wait
        while not reachable(local_ip(), port, timeout=1.0):
            if master.poll() is not None or time.monotonic() >= deadline:
                why = "exited with code {}".format(master.returncode) if master.returncode is not None \
                    else "did not accept connections in {:.0f}s".format(wait)
                log("the Spark master " + why + (":\n" + _tail(log_path) if log_path else ""))
                return master.returncode or 1
            time.sleep(poll)
        log("master is up; starting the driver")
        driver = subprocess.Popen(submit_command or [spark_tool("spark-submit")] + list(arguments))
        with _forwarding_signals(driver):
            return driver.wait()
    finally:
        _stop(master)


class _forwarding_signals(object):
    """While active, SIGTERM and SIGINT go to ``child`` (the pod is being stopped)."""

    def __init__(self, child):
        self.child = child
        self.previous = {}

    def __enter__(self):
        def forward(signum, _frame):
            self.child.send_signal(signum)
        for signum in (signal.SIGTERM, signal.SIGINT):
            self.previous[signum] = signal.signal(signum, forward)
        return self

    def __exit__(self, *exc):
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        return False


def _stop(process, grace=30):
    """Terminate a child process, kill it after ``grace`` seconds, and reap it."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def run_worker(master_url, options, wait=None, poll=None, misses_allowed=3, command=None):
    """Run a Spark Worker for as long as its master is there; return the exit code.

    ``wait`` (seconds to wait for the master to first accept connections) and
    ``poll`` (seconds between checks) default to ``FEDSPAWNER_MASTER_WAIT``
    (900) and ``FEDSPAWNER_MASTER_POLL`` (5). ``command`` replaces the
    Worker's command line (for tests).
    """
    wait = float(os.environ.get("FEDSPAWNER_MASTER_WAIT", "900")) if wait is None else wait
    poll = float(os.environ.get("FEDSPAWNER_MASTER_POLL", "5")) if poll is None else poll
    host, port = parse_master(master_url)
    deadline = time.monotonic() + wait
    while not reachable(host, port):
        if time.monotonic() >= deadline:
            log("the Spark master at {} never came up in {:.0f}s; the driver has ended or never "
                "started, so this worker has nothing to do".format(master_url, wait))
            return 0
        time.sleep(poll)
    if command is None:
        tool = spark_tool("spark-class")
        command = [tool, WORKER_CLASS, "--host", local_ip()] + list(options) + [master_url]
    log("master is up; starting the Spark worker")
    worker = subprocess.Popen(command)
    with _forwarding_signals(worker):
        return _supervise(worker, host, port, poll, misses_allowed)


def _supervise(worker, host, port, poll, misses_allowed):
    """Wait for the worker to exit, or stop it once the master is gone."""
    misses = 0
    while True:
        code = worker.poll()
        if code is not None:
            log("the Spark worker exited with code {}".format(code))
            return code
        misses = 0 if reachable(host, port) else misses + 1
        if misses >= misses_allowed:
            log("the Spark master is gone (the driver finished); stopping the worker")
            _stop(worker)
            return 0
        time.sleep(poll)


def main(argv=None):
    """Dispatch on the role given as the first argument."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in ("master", "worker", "driver"):
        raise SystemExit("usage: fedspawner_spark.py master | worker MASTER_URL [options] | driver [args]")
    role, rest = argv[0], argv[1:]
    if role == "master":
        run_master()
    elif role == "driver":
        return run_driver(rest)
    else:
        if not rest:
            raise SystemExit("fedspawner: worker needs the master URL")
        return run_worker(rest[0], rest[1:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
