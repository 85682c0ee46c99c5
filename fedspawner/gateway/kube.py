"""Plain-JSON access to any namespaced Kubernetes resource through one cluster's ApiClient.

The gateway creates, lists and deletes core objects and custom resources alike, so it
talks to the REST paths directly (no model classes): a manifest goes out as the dict
the renderer built and objects come back as decoded JSON. Every call uses the member
cluster's own ``ApiClient`` (its namespace-scoped credential).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.rest import ApiException

from ..federation.watch import raise_for_status
from ..jobs import kinds
from ..jobs.render import CustomResource

DEFAULT_TIMEOUT = 20.0


@dataclass(frozen=True)
class Resource:
    """A namespaced resource collection: API group, version and plural name."""

    group: str
    version: str
    plural: str
    kind: str

    @classmethod
    def of(cls, custom: CustomResource) -> "Resource":
        """The collection of a custom resource a kind declares."""
        return cls(custom.group, custom.version, custom.plural, custom.kind)

    @classmethod
    def rendered(cls, backend: str) -> "Resource":
        """The custom resource the renderers create for an operator ``backend``."""
        return cls.of(kinds.CUSTOM_RESOURCES[backend])

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def crd(self) -> str | None:
        """``<plural>.<group>`` for resources that come from a CRD (None for built-ins)."""
        return None if self.group in ("", "batch") else f"{self.plural}.{self.group}"

    def path(self, namespace: str, name: str | None = None, sub: str | None = None) -> str:
        root = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        path = f"{root}/namespaces/{namespace}/{self.plural}"
        if name:
            path += f"/{name}"
        if sub:
            path += f"/{sub}"
        return path


CONFIGMAPS = Resource("", "v1", "configmaps", "ConfigMap")
SERVICES = Resource("", "v1", "services", "Service")
PODS = Resource("", "v1", "pods", "Pod")
EVENTS = Resource("", "v1", "events", "Event")
JOBS = Resource("batch", "v1", "jobs", "Job")
TRAINJOBS = Resource.rendered("trainjob")
SPARKAPPS = Resource.rendered("sparkapplication")

#: Custom resources that are a job's workload, one per operator backend (as the kinds declare them).
WORKLOAD_CUSTOM = tuple(Resource.of(r) for r in kinds.workload_resources())
#: Custom resources operators make from a workload (a TrainJob's JobSet), followed as the job's objects.
OWNED_CUSTOM = tuple(Resource.of(r) for r in kinds.owned_resources())
JOBSETS = next(r for r in OWNED_CUSTOM if r.kind == "JobSet")
#: Every kind of resource that is a job's workload (its state is the job's).
WORKLOAD_KINDS = frozenset(r.kind for r in (JOBS, *WORKLOAD_CUSTOM))
#: Every resource kind a job's objects can be, by kind.
BY_KIND = {r.kind: r for r in (CONFIGMAPS, SERVICES, PODS, JOBS, *OWNED_CUSTOM, *WORKLOAD_CUSTOM)}
#: Custom resources a job may own, to look for where the cluster serves them.
CUSTOM = (*WORKLOAD_CUSTOM, *OWNED_CUSTOM)


def resource_for(manifest: dict) -> Resource:
    """The collection a rendered manifest belongs to."""
    resource = BY_KIND.get(manifest.get("kind", ""))
    if resource is None or resource.api_version != manifest.get("apiVersion"):
        raise ValueError(f"no known resource for {manifest.get('apiVersion')}/{manifest.get('kind')}")
    return resource


async def open_stream(api: client.ApiClient, method: str, path: str, *, query: dict | None = None,
                      body: Any = None, timeout: float | tuple | None = DEFAULT_TIMEOUT,
                      content_type: str = "application/json", accept: str = "application/json"):
    """Send one request and return the raw aiohttp response (raises ApiException unless 2xx).

    The caller reads and releases the response (used for log streams and watches).
    """
    params = [(k, v) for k, v in (query or {}).items() if v is not None]
    resp = await api.call_api(path, method, query_params=params,
                              header_params={"Accept": accept, "Content-Type": content_type},
                              body=body, auth_settings=["BearerToken"], _preload_content=False,
                              _request_timeout=timeout)
    if not 200 <= resp.status < 300:
        data = await resp.read()
        resp.release()
        raise_for_status(resp.status, data)
    return resp


async def request(api: client.ApiClient, method: str, path: str, *, query: dict | None = None,
                  body: Any = None, timeout: float = DEFAULT_TIMEOUT, content_type: str = "application/json",
                  accept: str = "application/json") -> dict:
    """Send one request and return the decoded JSON answer (raises ApiException unless 2xx)."""
    resp = await open_stream(api, method, path, query=query, body=body, timeout=timeout,
                             content_type=content_type, accept=accept)
    try:
        data = await resp.read()
    finally:
        resp.release()
    return json.loads(data) if data else {}


async def create(api: client.ApiClient, manifest: dict, *, dry_run: bool = False) -> dict:
    """Create a rendered manifest in its namespace."""
    resource = resource_for(manifest)
    query = {"dryRun": "All"} if dry_run else None
    return await request(api, "POST", resource.path(manifest["metadata"]["namespace"]), query=query,
                         body=manifest)


#: Ask for metadata only (labels, annotations), not the objects' data.
METADATA_ONLY = "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io,application/json"


async def list_objects(api: client.ApiClient, resource: Resource, namespace: str, selector: str,
                       timeout: float = DEFAULT_TIMEOUT, metadata_only: bool = False) -> list[dict]:
    """Every object of ``resource`` in ``namespace`` matching the label selector."""
    found = await request(api, "GET", resource.path(namespace), query={"labelSelector": selector},
                          timeout=timeout, accept=METADATA_ONLY if metadata_only else "application/json")
    kind = resource.kind
    items = found.get("items") or []
    for item in items:  # list items carry no kind of their own (metadata-only ones a generic one)
        item["kind"], item["apiVersion"] = kind, resource.api_version
    return items


async def delete(api: client.ApiClient, resource: Resource, namespace: str, name: str,
                 propagation: str = "Background", grace: int | None = None) -> None:
    """Delete one object; an object already gone counts as deleted."""
    options: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation}
    if grace is not None:
        options["gracePeriodSeconds"] = grace
    try:
        await request(api, "DELETE", resource.path(namespace, name), body=options)
    except ApiException as err:
        if err.status != 404:
            raise


async def merge_patch(api: client.ApiClient, resource: Resource, namespace: str, name: str,
                      patch: dict) -> dict:
    """Apply a JSON merge patch to one object."""
    return await request(api, "PATCH", resource.path(namespace, name), body=patch,
                         content_type="application/merge-patch+json")


def selector(labels: dict[str, str]) -> str:
    """``{"a": "1", "b": "2"}`` → ``"a=1,b=2"``."""
    return ",".join(f"{k}={v}" for k, v in labels.items())


#: Watch events with metadata only (a watch must not be offered the list type first: the
#: apiserver then answers an empty stream).
METADATA_ONLY_WATCH = "application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io,application/json"


def lister(api: client.ApiClient, resource: Resource, namespace: str, metadata_only: bool = False):
    """A list function with the signature ``federation.watch.ResourceWatch`` expects.

    It answers both lists and watches (``watch=True``) with the raw response; with
    ``metadata_only``, objects come without their data (labels and annotations only).
    """
    def accept(watch: bool) -> str:
        if not metadata_only:
            return "application/json"
        return METADATA_ONLY_WATCH if watch else METADATA_ONLY
    names = {"label_selector": "labelSelector", "field_selector": "fieldSelector", "limit": "limit",
             "_continue": "continue", "resource_version": "resourceVersion",
             "allow_watch_bookmarks": "allowWatchBookmarks", "timeout_seconds": "timeoutSeconds"}

    async def list_fn(*, watch: bool = False, _preload_content: bool = False, _request_timeout=None,
                      **kwargs):
        query = {names[k]: (str(v).lower() if isinstance(v, bool) else v) for k, v in kwargs.items()
                 if v is not None}
        if watch:
            query["watch"] = "true"
        params = list(query.items())
        return await api.call_api(resource.path(namespace), "GET", query_params=params,
                                  header_params={"Accept": accept(watch)}, auth_settings=["BearerToken"],
                                  _preload_content=False, _request_timeout=_request_timeout)

    return list_fn
