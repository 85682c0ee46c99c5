"""Renderer for Spark on any cluster: a per-job Spark standalone cluster.

Why standalone and not ``spark-submit --master k8s://``: Kubernetes mode
makes the driver create and delete executor pods through the API, so the
driver's pod needs a service account allowed to manage pods, which
fedspawner's namespace-scoped credentials may not be able to grant, and the
executors then exist outside anything the gateway created. A standalone
cluster is made only of objects fedspawner renders, all labelled, created
and deleted by the gateway; its pods need no API access at all.

Objects, in creation order:

1. ConfigMap ``<name>-script``: ``main.py``, ``requirements.txt`` when there
   are packages, and ``fedspawner_spark.py``, the launcher (``spark_node.py``
   in this package) that runs each role.
2. Headless Service ``<name>`` over every pod of the job (ports 7077 Spark,
   8080 master UI, 4040 application UI), so pods resolve as
   ``<host>.<name>``.
3. Indexed Job ``<name>-driver`` (one pod, host ``<name>-driver-0``) whose
   one container runs the **master** and the **driver**: the launcher starts
   the Spark Master, waits until it listens, runs ``spark-submit --master
   spark://<pod IP>:7077 --deploy-mode client main.py``, then stops the
   master and exits with spark-submit's code, so the pod and the Job finish
   with the application and the Job's state is the job's state. (A native
   sidecar for the master would need Kubernetes ≥ 1.29 and a kubelet that
   implements it; one container runs anywhere.) The master's own log goes to
   ``/fedspawner/work/spark-master.log``; its last lines are printed if it
   fails.
4. Indexed Job ``<name>-worker`` (``executors`` pods): each waits for the
   master at ``spark://<name>-driver-0.<name>:7077``, runs a Spark Worker
   offering the spec's cores and memory, and exits 0 once the master has been
   gone for a few checks, so workers never outlive the driver. Pods have
   ``restartPolicy: Never``; a worker that crashes while the master is up is
   replaced (up to ``executors`` times), an evicted one always.

Addresses: Spark binds to the pod IP everywhere (``SPARK_LOCAL_IP`` and, on
the master, ``SPARK_MASTER_HOST`` from ``status.podIP``; the driver's
``spark.driver.host`` and ``spark.driver.bindAddress``), which also keeps
pods that share a host network (the sandbox) from colliding on ports. The
application UI is on port 4040 of the driver pod; the driver Job and pod carry
``fedspawner.dev/spark-ui-service``, ``-host`` and ``-port`` annotations so a
client can link it (e.g. through the API server's service proxy).

Sizing per pod: the driver's heap is 60% of the spec's memory; a worker pod
keeps 768 MiB for the Worker daemon and gives 60% of the rest to its
executor's heap (the rest is for the JVM's own overhead and the Python
workers); the executor gets the spec's CPU rounded down (at least 1 core).
The master adds 250m CPU and 1 GiB to the driver container's requests.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from ..checks import spark_cores
from ..labels import ANNOTATION_SPARK_UI_HOST, ANNOTATION_SPARK_UI_PORT, ANNOTATION_SPARK_UI_SERVICE
from ..validation import mebibytes, parse_quantity
from .common import (
    SCRIPT_DIR,
    WORK_DIR,
    Ctx,
    env,
    field_env,
    headless_service,
    indexed_job,
    main_container,
    pod_spec,
    resources,
    script_configmap,
    volume_mounts,
)
from .spark_common import SPARK_UI_PORT, heap_mib

MASTER_PORT = 7077
MASTER_UI_PORT = 8080
WORKER_UI_PORT = 8081
LAUNCHER = "fedspawner_spark.py"
DAEMON_MEMORY = "512m"
MASTER_CPU = "250m"
MASTER_MEMORY = "1Gi"
#: MiB of a worker pod kept for the Worker daemon (512m heap plus JVM overhead).
WORKER_RESERVED_MIB = 768
PYTHON_DEFAULTS = {"PYSPARK_PYTHON": "python3", "PYSPARK_DRIVER_PYTHON": "python3"}


@lru_cache(maxsize=1)
def launcher_source() -> str:
    """The launcher's source, shipped in the ConfigMap."""
    return Path(__file__).with_name("spark_node.py").read_text(encoding="utf-8")


def plus_cpu(cpu: str, extra: str) -> str:
    """The sum of two CPU quantities, in millicores."""
    total = parse_quantity(cpu) + parse_quantity(extra)
    return f"{int(total * 1000)}m"


def pod_ip_env(*names: str) -> list[dict[str, Any]]:
    return [field_env(name, "status.podIP") for name in ("FEDSPAWNER_POD_IP", "SPARK_LOCAL_IP", *names)]


def render_spark_standalone(ctx: Ctx) -> list[dict[str, Any]]:
    """ConfigMap, headless Service, driver Job (with master sidecar) and worker Job."""
    service = ctx.name
    driver_job, worker_job = f"{ctx.name}-driver", f"{ctx.name}-worker"
    driver_host = f"{driver_job}-0.{service}"
    master_url = f"spark://{driver_host}:{MASTER_PORT}"
    launcher = ["python3", f"{SCRIPT_DIR}/{LAUNCHER}"]
    cores = spark_cores(ctx.spec.cpu)
    assert ctx.spec.executors is not None
    executor_heap = heap_mib(ctx.spec.memory, reserved_mib=WORKER_RESERVED_MIB)
    ui = {ANNOTATION_SPARK_UI_SERVICE: service, ANNOTATION_SPARK_UI_HOST: driver_host,
          ANNOTATION_SPARK_UI_PORT: str(SPARK_UI_PORT)}

    submit = [
        "--master", f"spark://$(FEDSPAWNER_POD_IP):{MASTER_PORT}",
        "--deploy-mode", "client",
        "--name", ctx.spec.name,
        "--driver-memory", f"{heap_mib(ctx.spec.memory)}m",
        "--conf", "spark.driver.host=$(FEDSPAWNER_POD_IP)",
        "--conf", "spark.driver.bindAddress=$(FEDSPAWNER_POD_IP)",
        "--conf", f"spark.ui.port={SPARK_UI_PORT}",
        "--conf", f"spark.executor.memory={executor_heap}m",
        "--conf", f"spark.executor.cores={cores}",
        "--conf", f"spark.cores.max={cores * ctx.spec.executors}",
        "--conf", f"spark.local.dir={WORK_DIR}",
    ]
    for key, value in ctx.spec.conf.items():
        # Kubernetes expands $(VAR) in commands; "$$" keeps a user's "$" literal.
        submit += ["--conf", f"{key}={value}".replace("$", "$$")]
    driver = main_container(
        ctx, "driver", [*launcher, "driver", *submit, f"{SCRIPT_DIR}/{ctx.spec.script_filename}"],
        env=env(ctx, defaults=PYTHON_DEFAULTS, extra=[
            *pod_ip_env("SPARK_MASTER_HOST"),
            {"name": "SPARK_DAEMON_MEMORY", "value": DAEMON_MEMORY},
            {"name": "FEDSPAWNER_MASTER_LOG", "value": f"{WORK_DIR}/spark-master.log"},
        ]),
        ports=[("spark", MASTER_PORT), ("master-ui", MASTER_UI_PORT), ("spark-ui", SPARK_UI_PORT)],
        resources=resources(ctx, gpu=False, cpu=plus_cpu(ctx.spec.cpu, MASTER_CPU),
                            memory=f"{mebibytes(ctx.spec.memory) + mebibytes(MASTER_MEMORY)}Mi"),
        mounts=volume_mounts(ctx, work=True))
    worker = main_container(
        ctx, "worker", [*launcher, "worker", master_url, "--cores", str(cores), "--memory", f"{executor_heap}m",
                        "--work-dir", WORK_DIR, "--webui-port", str(WORKER_UI_PORT)],
        env=env(ctx, rank_from_index=True, defaults=PYTHON_DEFAULTS, extra=[
            *pod_ip_env(),
            {"name": "SPARK_DAEMON_MEMORY", "value": DAEMON_MEMORY},
            {"name": "SPARK_WORKER_DIR", "value": WORK_DIR},
            {"name": "SPARK_LOCAL_DIRS", "value": WORK_DIR},
            {"name": "FEDSPAWNER_MASTER_URL", "value": master_url},
        ]),
        ports=[("worker-ui", WORKER_UI_PORT)], resources=resources(ctx, gpu=True),
        mounts=volume_mounts(ctx, work=True))
    driver_pod = pod_spec(ctx, containers=[driver], gpu=False, work=True, subdomain=service)
    worker_pod = pod_spec(ctx, containers=[worker], gpu=True, work=True, subdomain=service)
    return [
        script_configmap(ctx, {LAUNCHER: launcher_source()}),
        headless_service(ctx, [("spark", MASTER_PORT), ("master-ui", MASTER_UI_PORT),
                               ("spark-ui", SPARK_UI_PORT)]),
        indexed_job(ctx, name=driver_job, component="driver", completions=1, pod=driver_pod, annotations=ui),
        indexed_job(ctx, name=worker_job, component="worker", completions=ctx.spec.executors,
                    pod=worker_pod, backoff_limit=ctx.spec.executors, ignore_disruptions=True),
    ]
