"""Run an operator as a local process of the sandbox.

Each operator gets a directory ``<cluster>/operators/<name>/`` with its configuration,
its own serving certificate (``certs/tls.{crt,key}``, IP SAN 127.0.0.1, signed by the
cluster CA) and its own ``TMPDIR`` (Trainer reads its certificate from
``$TMPDIR/k8s-webhook-server/serving-certs``). It talks to the cluster with the admin
kubeconfig (the Spark operator with an admin certificate whose key is RSA, which the
spark-submit it runs can read). Kueue, with its certificate management off, still loads a metrics
certificate from the fixed path ``/etc/kueue/metrics/certs``: it runs in a private mount
namespace whose ``/etc`` is an overlay of the machine's with that directory added, so
nothing on the machine changes.
"""

from __future__ import annotations

import os
import shutil
import time
import urllib.request
from dataclasses import replace
from pathlib import Path

import yaml

from .. import kubeconfig, processes
from ..components import LOOPBACK, ClusterLayout
from ..multikueue import kueue_settings
from ..pki import issue_client_cert, issue_serving_cert
from .build import OperatorBuild
from .config import render_config, spark_operator_args
from .install import OperatorError

#: Kueue's fixed metrics certificate directory, below /etc.
KUEUE_METRICS_CERTS = "kueue/metrics/certs"

# Runs in a fresh mount namespace: $1 is an empty directory for a tmpfs holding the
# overlay's upper and work directories, $2 the certificate directory, $3... the command.
_PRIVATE_ETC = (
    'set -e; mount -t tmpfs fedspawner-etc "$1"; '
    f'mkdir -p "$1/upper/{KUEUE_METRICS_CERTS}" "$1/work"; '
    f'cp "$2/tls.crt" "$2/tls.key" "$1/upper/{KUEUE_METRICS_CERTS}/"; '
    'mount -t overlay overlay -o "lowerdir=/etc,upperdir=$1/upper,workdir=$1/work" /etc; '
    'shift 2; exec "$@"'
)


def component(name: str) -> str:
    """The component name of an operator in the sandbox's process records and logs."""
    return f"operator-{name}"


def operator_dir(c: ClusterLayout, name: str) -> Path:
    return c.dir / "operators" / name


def private_etc_argv(argv: list[str], scratch: Path, cert_dir: Path) -> list[str]:
    """``argv`` run in a private mount namespace whose /etc also holds Kueue's metrics certificates."""
    unshare, sh = shutil.which("unshare"), shutil.which("sh")
    if not unshare or os.geteuid() != 0:
        raise OperatorError("Kueue needs a private mount namespace (it reads /etc/kueue/metrics/certs): "
                            "run the sandbox as root with util-linux's unshare installed, or remove kueue "
                            "from the topology's operators")
    return [unshare, "--mount", "--propagation", "private", sh, "-c", _PRIVATE_ETC, "sh",
            str(scratch), str(cert_dir), *argv]


def spark_submit_env(c: ClusterLayout) -> dict[str, str]:
    """What the Spark operator's spark-submit needs: the cluster's apiserver as the in-cluster
    address, and ``SPARK_HOME`` from the workload environment's PySpark when it is installed."""
    from ..workload import workload_env_dir

    env = {"KUBERNETES_SERVICE_HOST": LOOPBACK, "KUBERNETES_SERVICE_PORT": str(c.ports["apiserver"]),
           "SPARK_LOCAL_IP": LOOPBACK}  # else spark-submit binds to the machine's interface address
    for pyspark in workload_env_dir().glob("lib/python*/site-packages/pyspark"):
        if (pyspark / "bin" / "spark-submit").exists():
            env["SPARK_HOME"] = str(pyspark)
    return env


def spark_operator_kubeconfig(c: ClusterLayout, home: Path) -> Path:
    """The Spark operator's kubeconfig: a cluster-admin client certificate with an RSA key.

    The operator hands its kubeconfig to spark-submit, whose fabric8 Kubernetes client cannot
    read the sandbox's ECDSA client keys ("Invalid DER: object is not integer").
    """
    cert, key, path = home / "client" / "tls.crt", home / "client" / "tls.key", home / "kubeconfig"
    issue_client_cert(c.pki, "sandbox-spark-operator", ("system:masters",), cert, key, rsa_key=True)
    kubeconfig.write(path, kubeconfig.admin_kubeconfig(c.server, c.pki.cert("ca"), cert, key))
    return path


def prepare(c: ClusterLayout, build: OperatorBuild, neighbours: tuple[str, ...]) -> tuple[list[str], dict[str, str]]:
    """Write the operator's certificate and configuration; return its argv and environment."""
    op = build.operator
    home = operator_dir(c, op.name)
    certs, tmp = home / "certs", home / "tmp"
    issue_serving_cert(c.pki, f"{op.name}-webhook", certs / "tls.crt", certs / "tls.key")
    tmp.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, KUBECONFIG=str(c.admin_kubeconfig), TMPDIR=str(tmp), POD_NAMESPACE=op.namespace)
    config = render_config(op.name, c.ports, certs, neighbours)
    if config is None:
        env["KUBECONFIG"] = str(spark_operator_kubeconfig(c, home))
        return [str(build.binary), *spark_operator_args(c.ports)], {**env, **spark_submit_env(c)}
    if op.name == "kueue" and c.spec.multikueue:
        config["multiKueue"] = kueue_settings(c.spec.multikueue)
    if op.name == "trainer":  # its certificate directory is fixed below TMPDIR
        serving = tmp / "k8s-webhook-server" / "serving-certs"
        serving.mkdir(parents=True, exist_ok=True)
        for f in ("tls.crt", "tls.key"):
            shutil.copyfile(certs / f, serving / f)
    (home / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    argv = [str(build.binary), f"--config={home / 'config.yaml'}"]
    if op.name == "kueue":
        scratch = home / "etc"
        scratch.mkdir(exist_ok=True)
        argv = private_etc_argv(argv, scratch, certs)
    return argv, env


def start(c: ClusterLayout, build: OperatorBuild, neighbours: tuple[str, ...],
          state_dir: Path) -> processes.ProcessRecord:
    """Start the operator detached; its record names the operator's binary (what it runs once started)."""
    argv, env = prepare(c, build, neighbours)
    rec = processes.start(c.spec.name, component(build.operator.name), argv, c.log(component(build.operator.name)),
                          state_dir, env=env)
    return replace(rec, exe=str(build.binary))


def wait_ready(c: ClusterLayout, rec: processes.ProcessRecord, name: str, timeout: float) -> None:
    """Wait until the operator's readiness probe answers 200; fail early if it exits."""
    url = f"http://{LOOPBACK}:{c.ports[f'{name}-health']}/readyz"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        if not processes.is_running(rec.pid):
            raise OperatorError(f"{c.spec.name}: the {name} operator exited during start-up; last lines of "
                                f"{rec.log}:\n{processes.log_tail(rec.log)}")
        time.sleep(0.2)
    raise OperatorError(f"{c.spec.name}: the {name} operator did not become ready within {timeout:.0f}s "
                        f"({url}); see {rec.log}")
