"""Submitting a job: validate, place the whole gang, render for the cluster, create.

``Submitter.submit`` checks the request (sandbox rules, the spec, the image allow-list, the
administrators' limits),
asks placement for the clusters that can run the gang now, and creates the rendered
objects on the first of them, trying the next when a cluster refuses (quota, down).
``Submitter.place`` is also what failover uses to move a job.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

from kubernetes_asyncio.client.rest import ApiException

from ..federation.failover import reason_for_exception
from ..federation.multikueue import CannotCarry, carry_files
from ..federation.registry import ClusterRegistry
from ..federation.unreachable import UNREACHABLE
from ..jobs import JobSpec, RenderTarget, kinds
from ..jobs.fields import parse_cluster_field, parse_origin
from ..jobs.render import backends_for, render, supported_backends, unsupported_reason
from ..jobs.render.target import RuntimeRef
from . import hedging, kube
from .config import Gateway
from .discovery import BackendDiscovery
from .errors import BadRequest, ClusterUnavailable, Forbidden, GatewayError, Unsatisfiable
from .identity import JobRecord, anchor_patch, new_job_id, object_name
from .model import JobObjects
from .planning import AUTO, job_placement, plan
from .policy import check_image, check_limits, check_request, manifest_violations
from .queueing import QueueBoard, QueueUnusable, enqueue, job_needs, webhook_failure
from .trainjob import TrainingRuntimes

log = logging.getLogger(__name__)


class CreateFailed(Exception):
    """A cluster refused or failed the job's objects; the message says why, for people."""

    def __init__(self, reason: str, invalid: bool = False):
        super().__init__(reason)
        self.invalid = invalid  # the apiserver found the manifests invalid (not a capacity problem)


def _why(err: BaseException) -> str:
    return reason_for_exception(err) or (
        f"the apiserver refused the job ({err.status}: {err.reason})" if isinstance(err, ApiException)
        else f"unreachable ({type(err).__name__})")


class Submitter:
    """Turns requests into jobs on member clusters."""

    def __init__(self, registry: ClusterRegistry, discovery: BackendDiscovery, settings: Gateway,
                 queues: QueueBoard | None = None):
        self.registry = registry
        self.discovery = discovery
        self.settings = settings
        self.queues = queues  # Kueue's queues on the member clusters (None: submit around them)
        self.runtimes = TrainingRuntimes(ttl=settings.discovery_ttl)

    # ---- the request -------------------------------------------------------------------------
    def validate(self, body: object) -> tuple[JobSpec, object, dict | None]:
        """The spec, the ``cluster`` and the ``origin`` fields of a request body; 4xx errors for bad
        input."""
        if not isinstance(body, dict):
            raise BadRequest("The request body must be a JSON object: a job spec such as "
                             "{\"kind\": \"pytorch\", \"script\": \"...\", \"nodes\": 2}.")
        fields = dict(body)
        cluster_field = fields.pop("cluster", AUTO)
        origin = parse_origin(fields.pop("origin", None))  # JobSpecError: a 400 with its own message
        check_request(fields)
        spec = JobSpec.from_dict(fields)  # JobSpecError: a 400 with its own message
        if not supported_backends(spec.kind):
            raise BadRequest(unsupported_reason(spec.kind))
        if spec.image is None:
            raise BadRequest(f"A {spec.kind} job has no default image; name one with 'image'.")
        check_image(spec.image, self.settings.allowed_images)
        check_limits(spec, self.settings.limits())
        return spec, cluster_field, origin

    async def submit(self, owner: str, groups: frozenset[str], body: object) -> JobObjects:
        """Create a job for ``owner``; returns its objects as created."""
        spec, cluster_field, origin, chosen, order = await self._ordered(owner, groups, body)
        record = JobRecord.for_spec(spec, chosen.request.gpu_type, groups, chosen.user_order,
                                    parse_cluster_field(cluster_field) or (), origin)
        if self.hedged(order, groups):
            return await self.place_hedged(new_job_id(), spec, owner, order, chosen.gpu_types, record)
        job, _ = await self.place(new_job_id(), spec, owner, order, chosen.gpu_types, record)
        return job

    def hedged(self, order: list[str], groups: frozenset[str]) -> bool:
        """Whether a job with these candidates waits in two queues at once: ``c.Gateway.queue_hedge`` takes
        the user's jobs, and the best two clusters both queue through Kueue."""
        return (self.settings.hedges_for(groups) and self.queues is not None and len(order) >= 2
                and all(self.queues.queues_on(c) for c in order[:2]))

    async def place_hedged(self, job_id: str, spec: JobSpec, owner: str, order: list[str],
                           gpu_types: dict[str, str | None], record: JobRecord) -> JobObjects:
        """Create gated copies of the job in the queues of the first two clusters of ``order`` that take it
        (``hedging.Hedges`` keeps the first admitted); a job that cannot be hedged is placed as usual."""
        made: list[JobObjects] = []
        history = list(record.history)
        for cluster in order:
            if len(made) == 2 or not self.queues.queues_on(cluster):
                break
            attempt = replace(record, history=(*history, f"hedged: waiting in the queues of {order[0]} and "
                                                         f"{order[1]}; the first to admit it keeps it"),
                              failover=(), tried=(cluster,), gpu_type=gpu_types.get(cluster))
            try:
                made.append(await self.create_on(cluster, job_id, spec, owner, attempt, hedged=True))
            except CreateFailed as err:
                log.info("job %s: %s refused a hedged copy: %s", job_id, cluster, err)
                history.append(f"{cluster}: {err}")
        if made:
            return made[0]
        job, _ = await self.place(job_id, spec, owner, order, gpu_types, record)
        return job

    async def _ordered(self, owner: str, groups: frozenset[str], body: object) -> tuple:
        """``(spec, cluster field, origin, plan, clusters to try in order)`` for a request body: the
        clusters that fit, have the kind's operator and (Kueue) would admit it soonest first."""
        spec, cluster_field, origin = self.validate(body)
        chosen = plan(spec, self.registry.snapshot(), owner, groups, cluster_field)
        gpus = chosen.request.gpu_count * chosen.request.pods
        over = self.registry.over_budget(owner, groups, gpus, f"the job {spec.name}")
        if over:
            raise Forbidden(over)
        order = await self.runnable(chosen.order, spec.kind)
        if not order:
            raise Unsatisfiable(f"{unsupported_reason(spec.kind)} (Clusters that would have room: "
                                f"{', '.join(chosen.order)}; none of them has the operator.)")
        if self.queues is not None and not chosen.user_order:
            order = self.queues.rank(order, job_needs(chosen.request), groups)
        return spec, cluster_field, origin, chosen, order

    async def dry_run(self, owner: str, groups: frozenset[str], body: object) -> dict:
        """Where ``body`` would run and why, best first, creating nothing: each candidate cluster with
        placement's reason, its Kueue queue (``queue Q on C: N ahead``) or why that queue refuses it."""
        _, _, _, chosen, order = await self._ordered(owner, groups, body)
        needs = job_needs(chosen.request)
        said = self.queues.reasons(order, needs, groups) if self.queues is not None else {}
        candidates = []
        for cluster in order:
            refused = queue = wait = None
            if self.queues is not None:
                wait = self.queues.predicted(cluster, needs, groups)
                try:
                    queue = await self.queues.choose(cluster, groups, needs)
                except QueueUnusable as err:
                    refused = str(err)
                except (ApiException, *UNREACHABLE) as err:
                    refused = _why(err)
            candidates.append({"cluster": cluster, "gpu_type": chosen.gpu_types.get(cluster),
                               "reason": chosen.reasons.get(cluster, ""), "queue": queue,
                               "queue_reason": said.get(cluster) if queue else None, "refused": refused,
                               "predicted_wait": wait.seconds if wait and queue else None})
        return {"cluster": next((c["cluster"] for c in candidates if not c["refused"]), None),
                "candidates": candidates}

    async def runnable(self, clusters: tuple[str, ...] | list[str], kind: str) -> list[str]:
        """The clusters among ``clusters`` that have a backend for ``kind`` (order kept)."""
        async def ok(cluster: str) -> bool:
            try:
                return bool(await self.discovery.backends(cluster, kind))
            except Exception as err:  # noqa: BLE001 - an unreachable cluster just drops out
                log.warning("%s: discovery failed: %s", cluster, err)
                return bool(backends_for(kind, ()))  # portable kinds run anywhere
        found = await asyncio.gather(*(ok(c) for c in clusters))
        return [c for c, yes in zip(clusters, found) if yes]

    # ---- creating ----------------------------------------------------------------------------
    async def place(self, job_id: str, spec: JobSpec, owner: str, order: list[str],
                    gpu_types: dict[str, str | None], record: JobRecord,
                    moving_from: tuple[str, str] | None = None) -> tuple[JobObjects, JobRecord]:
        """Create the job on the first cluster of ``order`` that takes it.

        ``moving_from`` (cluster, reason) marks a failover, noted in the job's history.
        Raises Unsatisfiable (422) or ClusterUnavailable (503) when every cluster refuses.
        """
        history = list(record.history)
        invalid = False
        for i, cluster in enumerate(order):
            rest = tuple(order[i + 1:])
            note = [f"{moving_from[0]}: {moving_from[1]} — failed over to {cluster}"] if moving_from else []
            gpu_type = gpu_types.get(cluster)
            attempt = replace(record, history=(*history, *note), failover=rest,
                              tried=(*record.tried, cluster), gpu_type=gpu_type)
            try:
                return await self.create_on(cluster, job_id, spec, owner, attempt), attempt
            except CreateFailed as err:
                log.info("job %s: %s refused it: %s", job_id, cluster, err)
                invalid = invalid or err.invalid
                history.append(f"{cluster}: {err}" + (f" — trying {rest[0]}" if rest else ""))
        tried = "; ".join(history[len(record.history):])
        if invalid:
            raise Unsatisfiable(f"The member clusters refused the job's objects: {tried}.")
        raise ClusterUnavailable(f"No member cluster could take the job now: {tried}. Try again shortly.")

    def target(self, cluster: str, job_id: str, owner: str, backend: str, spec: JobSpec,
               gpu_type: str | None, runtime: RuntimeRef | None = None) -> RenderTarget:
        """Where and how to render the job on ``cluster``."""
        gpu = None
        if spec.gpus.count and gpu_type:
            gpu = self.registry.scheduling(cluster, gpu_type)
        chosen = kinds.get(spec.kind).backend(backend)
        account = self.settings.spark_service_account if chosen and chosen.creates_pods else ""
        return RenderTarget(namespace=self.registry.members[cluster].namespace, job_id=job_id, owner=owner,
                            backend=backend, gpu=gpu, gpu_type=gpu_type if gpu else None,
                            service_account=account or None, runtime=runtime,
                            avoid_gpu_nodes=self.registry.inventories[cluster].avoid_gpu_nodes())

    async def render_for(self, cluster: str, job_id: str, spec: JobSpec, owner: str,
                         record: JobRecord, hedged: bool = False) -> list[dict]:
        """The manifests that run ``spec`` on ``cluster``, with the job record on the anchor (``hedged``:
        queued, its pods held back by the hedge gate; CreateFailed where that is not possible)."""
        api, namespace = self.registry.api(cluster), self.registry.members[cluster].namespace
        try:
            backends = await self.discovery.backends(cluster, spec.kind)
            runtime = await self.runtimes.for_backend(backends[:1], cluster, api, namespace)
        except (ApiException, *UNREACHABLE) as err:
            raise CreateFailed(_why(err)) from None
        if not backends:
            raise CreateFailed(f"it has no operator for {spec.kind} jobs")
        target = self.target(cluster, job_id, owner, backends[0], spec, record.gpu_type, runtime)
        objects = render(replace(spec, name=object_name(spec.name, job_id)), target)  # JobSpecError: 400
        anchor_patch(objects, record, spec)
        queue = None
        if self.queues is not None:
            try:
                queue = await self.queues.choose(cluster, frozenset(record.groups), job_needs(
                    job_placement(spec, None, owner, frozenset(record.groups), None)))
            except QueueUnusable as err:
                raise CreateFailed(str(err)) from None
            except (ApiException, *UNREACHABLE) as err:
                raise CreateFailed(_why(err)) from None
            if queue:
                enqueue(objects, queue)
                await self._carry_if_dispatched(cluster, queue, objects)
        if hedged and not (queue and hedging.gate(objects)):
            raise CreateFailed(f"a {spec.kind} job cannot wait in two queues at once there (hedging takes batch "
                               "jobs through Kueue only)")
        problems = manifest_violations(objects, target.namespace)
        if problems:
            log.error("rendered manifests break the sandbox rules: %s", problems)
            raise GatewayError("The gateway rendered manifests that break its own sandbox rules; nothing was "
                               "created. This is a fault of fedspawner, logged for the administrators.", 500)
        return objects

    async def _carry_if_dispatched(self, cluster: str, queue: str, objects: list[dict]) -> None:
        """On a MultiKueue manager, the job's files travel in its pods (the worker gets only the job)."""
        try:
            if await self.queues.dispatches(cluster, queue):
                carry_files(objects)
        except CannotCarry as err:
            raise CreateFailed(str(err)) from None
        except (ApiException, *UNREACHABLE) as err:
            raise CreateFailed((webhook_failure(err, cluster) if isinstance(err, ApiException) else None)
                               or _why(err)) from None

    async def create_on(self, cluster: str, job_id: str, spec: JobSpec, owner: str,
                        record: JobRecord, hedged: bool = False) -> JobObjects:
        """Render and create the job on ``cluster``; CreateFailed (after cleaning up) if refused."""
        objects = await self.render_for(cluster, job_id, spec, owner, record, hedged)
        api, namespace = self.registry.api(cluster), self.registry.members[cluster].namespace
        created: list[dict] = []
        try:
            for manifest in objects:
                created.append(await kube.create(api, manifest))
        except (ApiException, *UNREACHABLE) as err:
            await self._remove(api, namespace, created)
            if isinstance(err, ApiException) and err.status == 404:
                self.discovery.forget(cluster)
            self.runtimes.forget(cluster)  # a TrainJob's runtime may be what it refused
            invalid = isinstance(err, ApiException) and err.status == 422
            kueue_down = webhook_failure(err, cluster) if isinstance(err, ApiException) else None
            raise CreateFailed(kueue_down or _why(err), invalid=invalid) from None
        job = JobObjects(job_id, cluster, namespace)
        for obj in created:
            job.add(obj)
        return job

    @staticmethod
    async def _remove(api, namespace: str, created: list[dict]) -> None:
        for obj in reversed(created):
            try:
                await kube.delete(api, kube.BY_KIND[obj["kind"]], namespace, obj["metadata"]["name"])
            except Exception as err:  # noqa: BLE001 - best effort; the label still finds leftovers
                log.warning("could not remove %s/%s after a failed create: %s", obj["kind"],
                            obj["metadata"]["name"], err)
