"""Jobs as the member clusters hold them: found by label on every cluster, no database.

Every object of a job carries ``app.kubernetes.io/managed-by=fedspawner`` and
``fedspawner.dev/job-id``; a user's jobs also ``fedspawner.dev/owner``. Finding a job
asks each healthy cluster for the objects matching its labels (in parallel) and groups
them by job id, so a gateway restart or a second replica sees exactly the same jobs.
(Lists of many jobs come from the live ``index.JobIndex`` instead.)
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict

from kubernetes_asyncio.client.rest import ApiException

from ..federation.registry import ClusterRegistry
from ..jobs.vocabulary import JOB_ID_RE
from ..jobs.labels import LABEL_JOB_ID, job_selector
from . import kube
from .discovery import BackendDiscovery
from .errors import ClusterUnavailable, NotFound
from .identity import ANNOTATION_CANCELLING, ANNOTATION_RECORD, JobRecord, now_iso
from .model import JobObjects, labels

log = logging.getLogger(__name__)


class JobStore:
    """Find jobs and their objects on the member clusters."""

    def __init__(self, registry: ClusterRegistry, discovery: BackendDiscovery, timeout: float = 10.0):
        self.registry = registry
        self.discovery = discovery
        self.timeout = timeout

    def namespace(self, cluster: str) -> str:
        """The federation's namespace on ``cluster``, where its jobs run."""
        return self.registry.members[cluster].namespace

    def healthy(self) -> tuple[list[str], list[dict]]:
        """Clusters to ask now, and the others with the reason they are skipped."""
        ok, skipped = [], []
        for name, inventory in self.registry.inventories.items():
            if inventory.healthy:
                ok.append(name)
            else:
                skipped.append({"cluster": name, "reason": inventory.health_reason or "unreachable"})
        return ok, skipped

    async def resources(self, cluster: str, owned: bool = False) -> list[kube.Resource]:
        """What a job's objects on ``cluster`` can be: the anchor's ConfigMaps, pods and workloads
        (Jobs, and the custom resources the cluster serves); with ``owned``, also what the job
        owns besides (Services, JobSets), which only deleting it needs."""
        try:
            served = await self.discovery.served(cluster)
        except Exception as err:  # noqa: BLE001 - without discovery, built-ins still work
            log.warning("%s: API discovery failed (%s); looking at built-in resources only", cluster, err)
            served = frozenset()
        found = [kube.CONFIGMAPS, kube.PODS, kube.JOBS, *(r for r in kube.WORKLOAD_CUSTOM if r.crd in served)]
        if owned:
            found += [kube.SERVICES, *(r for r in kube.OWNED_CUSTOM if r.crd in served)]
        return found

    async def fetch(self, cluster: str, selector: str, owned: bool = False) -> dict[str, JobObjects]:
        """Every job on ``cluster`` with objects matching ``selector``, by job id (see ``resources``)."""
        api, ns = self.registry.api(cluster), self.namespace(cluster)
        kinds = await self.resources(cluster, owned)
        found = await asyncio.gather(*(
            kube.list_objects(api, r, ns, selector, timeout=self.timeout, metadata_only=r is kube.CONFIGMAPS)
            for r in kinds), return_exceptions=True)
        jobs: dict[str, JobObjects] = {}
        for resource, items in zip(kinds, found):
            if isinstance(items, ApiException) and items.status == 404:
                continue  # a custom resource removed since discovery
            if isinstance(items, BaseException):
                raise items
            for obj in items:
                job_id = labels(obj).get(LABEL_JOB_ID)
                if job_id:
                    jobs.setdefault(job_id, JobObjects(job_id, cluster, ns)).add(obj)
        return jobs

    async def anchor(self, job: JobObjects) -> dict | None:
        """The job's anchor ConfigMap in full (lists and the index hold its metadata only); None when
        the job has none, or it was deleted meanwhile (a failover moved the job, a cancel ended)."""
        if job.anchor is None:
            return None
        try:
            return await kube.request(self.registry.api(job.cluster), "GET",
                                      kube.CONFIGMAPS.path(job.namespace, job.anchor["metadata"]["name"]))
        except ApiException as err:
            if err.status == 404:
                return None
            raise

    async def mark_cancelling(self, job: JobObjects) -> None:
        """Mark the job's anchor as being cancelled (``ANNOTATION_CANCELLING``)."""
        await self._annotate_anchor(job, ANNOTATION_CANCELLING, now_iso())

    async def save_record(self, job: JobObjects, record: JobRecord) -> None:
        """Write ``record`` to the job's anchor on its cluster."""
        await self._annotate_anchor(job, ANNOTATION_RECORD, record.to_json())

    async def _annotate_anchor(self, job: JobObjects, key: str, value: str) -> None:
        patch = {"metadata": {"annotations": {key: value}}}
        await kube.merge_patch(self.registry.api(job.cluster), kube.CONFIGMAPS, job.namespace,
                               job.anchor["metadata"]["name"], patch)

    async def _everywhere(self, selector: str, owned: bool = False
                          ) -> tuple[dict[str, list[JobObjects]], list[dict]]:
        clusters, skipped = self.healthy()
        answers = await asyncio.gather(*(self.fetch(c, selector, owned) for c in clusters),
                                       return_exceptions=True)
        by_id: dict[str, list[JobObjects]] = defaultdict(list)
        for cluster, answer in zip(clusters, answers):
            if isinstance(answer, BaseException):
                log.warning("%s: listing jobs failed: %s", cluster, answer)
                skipped.append({"cluster": cluster, "reason": f"did not answer ({type(answer).__name__})"})
                continue
            for job_id, job in answer.items():
                by_id[job_id].append(job)
        return by_id, skipped

    async def copies(self, job_id: str, owned: bool = False) -> list[JobObjects]:
        """Every copy of a job (one, or two during a failover), newest first; 404 / 503 when none.

        With ``owned``, each copy has every object of the job (as deleting it needs).
        """
        if not isinstance(job_id, str) or not JOB_ID_RE.match(job_id):
            raise NotFound(f"{job_id!r} is not a job id: ids look like 'j-abcd2345' (see the job list).")
        by_id, skipped = await self._everywhere(kube.selector(job_selector(job_id)), owned)
        if job_id in by_id:
            found = by_id[job_id]
            first = newest(found)
            return [first, *(j for j in found if j is not first)]
        if skipped:
            down = ", ".join(f"{s['cluster']} ({s['reason']})" for s in skipped)
            raise ClusterUnavailable(f"Job {job_id} was not found on the clusters that answered; these did "
                                     f"not: {down}. Try again when they are back.")
        raise NotFound(f"There is no job {job_id}: it was never submitted or has been cancelled.")

    async def get(self, job_id: str) -> JobObjects:
        """One job by id, wherever it is now; NotFound (404) when no cluster has it."""
        return (await self.copies(job_id))[0]


def newest(copies: list[JobObjects]) -> JobObjects:
    """Where a job sits now when copies exist on several clusters (during a failover)."""
    def tried(job: JobObjects) -> int:
        record = job.record
        return len(record.tried) if record else -1

    return max(copies, key=tried)
