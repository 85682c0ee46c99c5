"""Renderer for an interactive Spark session: a Spark Connect server and its executors.

A session is a per-session Spark standalone cluster (the same launcher and
sizing as ``spark_standalone``) whose driver is Spark's Connect server instead
of a script, so its pods need no Kubernetes API access and every object is one
fedspawner renders and deletes. The pods are plain Pods (a session has no end
of its own to wait for; it is deleted when stopped).

Objects, in creation order:

1. ConfigMap ``<name>-script``: the launcher ``fedspawner_spark.py``.
2. Headless Service ``<name>`` (pods resolve as ``<host>.<name>``).
3. Pod ``<name>-driver`` (host ``<name>-driver``): the launcher starts the
   Spark Master, then ``spark-submit --class SparkConnectServer spark-internal``
   against it; the Connect server listens on ``CONNECT_PORT`` of the pod's
   address only (pods of a shared host network never collide on it).
4. Pods ``<name>-worker-<i>``, ``i`` from 1 to ``executors``: Spark Workers
   offering the session's cores and memory, and its GPUs (``gpus`` per worker,
   with the GPU type's node affinity and tolerations).

Sessions are not jobs: every object is labelled ``app.kubernetes.io/managed-by:
fedspawner-session`` (so the jobs index never sees them) and
``fedspawner.dev/session-id: <id>``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..checks import spark_cores
from ..labels import LABEL_BACKEND, LABEL_MANAGED_BY, MANAGED_BY
from ..validation import mebibytes
from .common import (SCRIPT_DIR, WORK_DIR, Ctx, env, headless_service, main_container, pod_spec, resources,
                     script_configmap, volume_mounts)
from .spark_common import SPARK_UI_PORT, heap_mib
from .spark_standalone import (DAEMON_MEMORY, LAUNCHER, MASTER_CPU, MASTER_MEMORY, MASTER_PORT, PYTHON_DEFAULTS,
                               WORKER_RESERVED_MIB, WORKER_UI_PORT, launcher_source, plus_cpu, pod_ip_env)
from .target import RenderTarget

if TYPE_CHECKING:  # renderers never import the spec module at run time (it imports the kinds)
    from ..spec import JobSpec

CONNECT_PORT = 15002
CONNECT_SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
#: How often the Connect server reports a running query's progress to the client (the cell's display).
PROGRESS_REPORT_INTERVAL = "500ms"
#: What ``managed-by`` says on a session's objects (the jobs index selects ``fedspawner`` only).
SESSION_MANAGED_BY = "fedspawner-session"
LABEL_SESSION_ID = "fedspawner.dev/session-id"
#: The session backend of fedspawner's own Connect server (``fedspawner.dev/backend`` on its objects).
STANDALONE_BACKEND = "spark-standalone"
#: The session's placeholder script (a session runs no script; the spec type wants one).
SESSION_SCRIPT = "# a Spark Connect session runs no script\n"


def driver_pod_name(name: str) -> str:
    """The Connect server's pod (its tunnel target)."""
    return f"{name}-driver"


def _submit_args(ctx: Ctx, executor_heap: int, cores: int) -> list[str]:
    """spark-submit's arguments for the Connect server, bound to the pod's address."""
    args = [
        "--master", f"spark://$(FEDSPAWNER_POD_IP):{MASTER_PORT}",
        "--deploy-mode", "client",
        "--class", CONNECT_SERVER_CLASS,
        "--name", ctx.spec.name,
        "--driver-memory", f"{heap_mib(ctx.spec.memory)}m",
        "--conf", "spark.driver.host=$(FEDSPAWNER_POD_IP)",
        "--conf", "spark.driver.bindAddress=$(FEDSPAWNER_POD_IP)",
        "--conf", "spark.connect.grpc.binding.address=$(FEDSPAWNER_POD_IP)",
        "--conf", f"spark.connect.grpc.binding.port={CONNECT_PORT}",
        "--conf", f"spark.ui.port={SPARK_UI_PORT}",
        "--conf", f"spark.executor.memory={executor_heap}m",
        "--conf", f"spark.executor.cores={cores}",
        "--conf", f"spark.cores.max={cores * (ctx.spec.executors or 1)}",
        "--conf", f"spark.local.dir={WORK_DIR}",
        "--conf", f"spark.connect.progress.reportInterval={PROGRESS_REPORT_INTERVAL}",  # live progress in cells
    ]
    for key, value in ctx.spec.conf.items():
        args += ["--conf", f"{key}={value}".replace("$", "$$")]  # "$$": Kubernetes keeps a user's "$"
    return [*args, "spark-internal"]


def _pod(ctx: Ctx, name: str, component: str, container: dict, service: str, gpu: bool = False) -> dict[str, Any]:
    spec = pod_spec(ctx, containers=[container], gpu=gpu, work=True, subdomain=service)
    spec["hostname"] = name
    return {"apiVersion": "v1", "kind": "Pod", "metadata": ctx.metadata(name, component), "spec": spec}


def as_session(value: Any, session_id: str, backend: str) -> Any:
    """Relabel rendered objects as a session's: every ``managed-by`` label (and selector) says
    ``SESSION_MANAGED_BY``, every label set carries the session id, and ``fedspawner.dev/backend``
    names the session ``backend``."""
    if isinstance(value, dict):
        out = {k: as_session(v, session_id, backend) for k, v in value.items()}
        if out.get(LABEL_MANAGED_BY) == MANAGED_BY:
            out[LABEL_MANAGED_BY] = SESSION_MANAGED_BY
            out[LABEL_SESSION_ID] = session_id
            if LABEL_BACKEND in out:
                out[LABEL_BACKEND] = backend
        return out
    if isinstance(value, list):
        return [as_session(v, session_id, backend) for v in value]
    return value


def render_spark_connect(spec: JobSpec, target: RenderTarget,
                         record: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """ConfigMap, headless Service, the Connect server's pod and ``spec.executors`` worker pods.

    ``spec`` is a Spark spec (``executors``, ``cpu`` and ``memory`` per pod, ``gpus`` per
    worker, ``conf``, ``image``); ``target.job_id`` is the session id; ``record`` are
    annotations for the ConfigMap (the session's anchor, the last object to go) and the
    server's pod.
    """
    ctx = Ctx(spec, target)
    service, driver = ctx.name, driver_pod_name(ctx.name)
    master_url = f"spark://{driver}.{service}:{MASTER_PORT}"
    launcher = ["python3", f"{SCRIPT_DIR}/{LAUNCHER}"]
    cores = spark_cores(spec.cpu)
    executor_heap = heap_mib(spec.memory, reserved_mib=WORKER_RESERVED_MIB)
    server = main_container(
        ctx, "connect", [*launcher, "driver", *_submit_args(ctx, executor_heap, cores)],
        env=env(ctx, defaults=PYTHON_DEFAULTS, extra=[
            *pod_ip_env("SPARK_MASTER_HOST"),
            {"name": "SPARK_DAEMON_MEMORY", "value": DAEMON_MEMORY},
            {"name": "FEDSPAWNER_MASTER_LOG", "value": f"{WORK_DIR}/spark-master.log"},
        ]),
        ports=[("spark", MASTER_PORT), ("connect", CONNECT_PORT), ("spark-ui", SPARK_UI_PORT)],
        resources=resources(ctx, gpu=False, cpu=plus_cpu(spec.cpu, MASTER_CPU),
                            memory=f"{mebibytes(spec.memory) + mebibytes(MASTER_MEMORY)}Mi"),
        mounts=volume_mounts(ctx, work=True))
    workers = []
    for index in range(1, (spec.executors or 1) + 1):
        worker = main_container(
            ctx, "worker", [*launcher, "worker", master_url, "--cores", str(cores), "--memory",
                            f"{executor_heap}m", "--work-dir", WORK_DIR, "--webui-port", str(WORKER_UI_PORT)],
            env=env(ctx, defaults=PYTHON_DEFAULTS, extra=[
                *pod_ip_env(),
                {"name": "FEDSPAWNER_RANK", "value": str(index)},
                {"name": "SPARK_DAEMON_MEMORY", "value": DAEMON_MEMORY},
                {"name": "SPARK_WORKER_DIR", "value": WORK_DIR},
                {"name": "SPARK_LOCAL_DIRS", "value": WORK_DIR},
            ]),
            ports=[("worker-ui", WORKER_UI_PORT)], resources=resources(ctx, gpu=True),
            mounts=volume_mounts(ctx, work=True))
        workers.append(_pod(ctx, f"{ctx.name}-worker-{index}", "worker", worker, service, gpu=True))
    anchor = script_configmap(ctx, {LAUNCHER: launcher_source()})
    server_pod = _pod(ctx, driver, "driver", server, service)
    for annotated in (anchor, server_pod):
        annotated["metadata"]["annotations"].update(record or {})
    objects = [
        anchor,
        headless_service(ctx, [("spark", MASTER_PORT), ("connect", CONNECT_PORT), ("spark-ui", SPARK_UI_PORT)]),
        server_pod,
        *workers,
    ]
    return as_session(objects, target.job_id, STANDALONE_BACKEND)
