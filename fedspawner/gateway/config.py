"""The gateway's settings (``c.Gateway.*`` in its config file, next to ``c.Federation.*``)."""

from __future__ import annotations

import os
from urllib.parse import urlparse

from traitlets import Float, Integer, List, Unicode, default
from traitlets.config import Configurable

from ..api_input import MAX_BODY_BYTES

#: The gateway's name as a JupyterHub service: its URL prefix is ``/services/<name>/`` and
#: callers' tokens need the scope ``access:services!service=<name>``.
SERVICE_NAME = "fedspawner-gateway"


class Gateway(Configurable):
    """Settings of the fedspawner gateway service."""

    allowed_images = List(Unicode(), config=True, help="""
        Images jobs may run, as shell-style patterns (e.g. ["pytorch/pytorch:*",
        "registry.example.org/research/*"]). Empty (the default): any image. A job naming
        another image is refused with a message listing the patterns; the default image
        of a kind must match too when a list is set.""")
    ip = Unicode("127.0.0.1", config=True, help="Address to listen on.")
    port = Integer(0, config=True, help="""
        Port to listen on. 0: the port of $JUPYTERHUB_SERVICE_URL (set by JupyterHub for a
        managed service), else 8090.""")
    base_url = Unicode(config=True, help="""
        URL prefix of every endpoint. Default: $JUPYTERHUB_SERVICE_PREFIX (e.g.
        /services/fedspawner-gateway/, which the proxy forwards unchanged), else /.""")
    pid_file = Unicode("", config=True, help="Write the process id here while running (empty: don't).")
    failover_grace = Float(5.0, config=True, help="""
        Seconds a job's pods may stay unschedulable (FailedScheduling), unpullable or refused
        by a quota before the job fails over to the next candidate cluster.""")
    failover_window = Float(900.0, config=True, help="""
        Seconds after submission during which a job still waiting for its pods may fail over.
        Later it stays where it is and waits.""")
    failover_lease_seconds = Float(15.0, config=True, help="""
        Seconds a gateway replica's hold on a cluster's failover Lease lasts without renewal.
        With several replicas, each guards the jobs of the clusters whose Lease it holds; when
        one stops without releasing them, another takes over after this long.""")
    cancel_timeout = Float(90.0, config=True, help="""
        Seconds a cancel waits until every object of the job is gone from its cluster.""")
    pod_grace_seconds = Integer(10, config=True, help="""
        Seconds a cancelled job's processes get after SIGTERM before they are killed.""")
    discovery_ttl = Float(60.0, config=True, help="""
        Seconds the backends found on a cluster by API discovery (TrainJob, PyTorchJob,
        SparkApplication CRDs) are cached.""")
    watch_interval = Float(0.25, config=True, help="Least seconds between two lines of a job's watch stream.")
    heartbeat_interval = Float(15.0, config=True,
                               help="Seconds between heartbeat lines of a quiet watch stream.")
    long_poll_max_wait = Float(30.0, config=True, help="""
        Longest ``wait`` (seconds) a long-polled endpoint (the jobs feed, clusters) holds a
        request open before answering an unchanged view.""")
    max_body_bytes = Integer(MAX_BODY_BYTES, config=True, help="Largest request body accepted, in bytes.")
    spark_service_account = Unicode("", config=True, help="""
        Service account of SparkApplication drivers (it must be allowed to create executor
        pods, e.g. the one the Spark operator's chart creates for job namespaces). Empty:
        the namespace's default.""")

    @default("base_url")
    def _default_base_url(self) -> str:
        prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/")
        return prefix if prefix.endswith("/") else prefix + "/"

    def listen_port(self) -> int:
        """The configured port, else the one in $JUPYTERHUB_SERVICE_URL, else 8090."""
        if self.port:
            return self.port
        url = os.environ.get("JUPYTERHUB_SERVICE_URL")
        return (urlparse(url).port or 80) if url else 8090
