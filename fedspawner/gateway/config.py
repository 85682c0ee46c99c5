"""The gateway's settings (``c.Gateway.*`` in its config file, next to ``c.Federation.*``)."""

from __future__ import annotations

import os
from urllib.parse import urlparse

from traitlets import Bool, Dict, Float, Integer, List, TraitError, Unicode, Union, default, validate
from traitlets.config import Configurable

from ..api_input import MAX_BODY_BYTES
from ..jobs import checks
from ..jobs.limits import Limits, LimitsError

_LIMITS = Limits()

#: The gateway's name as a JupyterHub service: its URL prefix is ``/services/<name>/`` and
#: callers' tokens need the scope ``access:services!service=<name>``.
SERVICE_NAME = "fedspawner-gateway"


class Gateway(Configurable):
    """Settings of the fedspawner gateway service."""

    allowed_images = List(Unicode(), config=True, help="""
        Images jobs may run, as shell-style patterns (e.g. ["pytorch/pytorch:*",
        "registry.example.org/research/*"]). Empty (the default): any image. A job naming
        another image is refused with a message listing the patterns; the default image
        of a kind must match too when a list is set. Only well-formed image references
        (the OCI grammar: [registry[:port]/]repository[:tag][@digest]) are matched.""")
    max_nodes = Integer(_LIMITS.nodes, config=True, help=f"""
        Most nodes (pods) one job that scales with nodes (pytorch, job, ...) may ask for (1 to {checks.MAX_NODES}).
        A job asking for more is refused with 403 saying this limit; the option schema
        publishes it, so the Lab's dialog and %%fedsubmit --help show it.""")
    max_executors = Integer(_LIMITS.executors, config=True, help=f"""
        Most executor pods one Spark job may ask for (1 to {checks.MAX_EXECUTORS}); enforced and
        published like max_nodes.""")
    max_gpus_per_node = Integer(_LIMITS.gpus_per_node, config=True, help=f"""
        Most GPUs per node (pod) one job may ask for (1 to {checks.MAX_GPUS_PER_NODE}); enforced
        and published like max_nodes. GPU budgets (c.Federation) cap the GPUs a user holds in
        all.""")
    max_cpu = Unicode(_LIMITS.cpu, config=True, help=f"""
        Most CPU per pod a job may ask for, as a quantity ("64", "500m"; at most
        {checks.MAX_CPU_CORES}); enforced and published like max_nodes.""")
    max_memory = Unicode(_LIMITS.memory, config=True, help="""
        Most memory per pod a job may ask for, as a quantity ("512Gi"; at least 1536Mi, what
        a Spark pod needs); enforced and published like max_nodes.""")
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
        Seconds the backends found on a cluster by API discovery (TrainJob, JobSet,
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
        the namespace's default. The driver runs the user's code with this account's rights, so
        a user can create pods of any shape with it (mounting the namespace's Secrets, say):
        give it a namespace of its own without Secrets other jobs need, or restrict the pods it
        may create with an admission policy. fedspawner's own checks (the Spark conf allow-list)
        only cover what is submitted, not what the code does at run time.""")

    queues = Dict(config=True, help="""
        The Kueue LocalQueue jobs use on each member cluster that runs Kueue, by cluster name:
        a queue name ({"training": "research"}) or one per JupyterHub group with "*" for
        everyone else ({"training": {"physics": "physics-q", "*": "research"}}). A cluster not
        named here uses its LocalQueue called "default", else its only one, else the first by
        name (found in the hub's namespace by listing). A named queue that does not exist, or
        is stopped, makes that cluster refuse the job with a message saying so.""")
    queue_admission_window = Float(300.0, config=True, help="""
        Seconds a job may wait in a member cluster's Kueue queue without being admitted before
        it moves to the next candidate cluster (within failover_window). Its copy is withdrawn,
        and confirmed gone, before the next cluster gets it, so two copies never run. 0: a
        job waits in its queue as long as it takes.""")
    queue_hedge = Union([Bool(), List(Unicode())], default_value=False, config=True, help="""
        Hedged queueing, for every user (True) or the users of these JupyterHub groups
        (["physics"]): a job that two Kueue clusters can take waits in the queues of the two
        where it is predicted to start soonest, and keeps the first one admitted; the other copy
        is deleted before it starts (its pods are held back by a scheduling gate until the
        gateway lets the winner's pods go), so two copies never run. Batch jobs only.""")

    def hedges_for(self, groups: frozenset[str]) -> bool:
        """Whether the jobs of a user in ``groups`` are hedged (``queue_hedge``)."""
        setting = self.queue_hedge
        return setting is True or (isinstance(setting, list) and bool(groups & set(setting)))

    @validate("max_nodes", "max_executors", "max_gpus_per_node", "max_cpu", "max_memory")
    def _valid_limit(self, proposal):
        name = proposal["trait"].name.removeprefix("max_")
        try:
            Limits(**{name: proposal["value"]})
        except LimitsError as err:
            raise TraitError(str(err)) from None
        return proposal["value"]

    def limits(self) -> Limits:
        """The administrators' limits on what one job may ask for."""
        return Limits(nodes=self.max_nodes, executors=self.max_executors, gpus_per_node=self.max_gpus_per_node,
                      cpu=self.max_cpu, memory=self.max_memory)

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
