"""Small helpers for integration tests that create pods on sandbox clusters."""

from __future__ import annotations

import asyncio
import time
import uuid

from kubernetes_asyncio import client


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def pod_manifest(name: str, command: list[str], *, gpus: int = 0, resource: str = "nvidia.com/gpu",
                 node_selector: dict | None = None, tolerations: list | None = None, restart: str = "Never",
                 labels: dict | None = None, **spec_extra) -> dict:
    container = {"name": "main", "image": "python:3.11-slim", "command": command,
                 "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}
    if gpus:
        container["resources"]["limits"] = {resource: str(gpus)}
    spec = {"containers": [container], "restartPolicy": restart, "terminationGracePeriodSeconds": 2, **spec_extra}
    if node_selector:
        spec["nodeSelector"] = node_selector
    if tolerations:
        spec["tolerations"] = tolerations
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels or {}}, "spec": spec}


async def wait_for(check, what: str, timeout: float = 30.0, interval: float = 0.05):
    """Poll ``check`` (async, returns a truthy value when done) until ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = await check()
        if result:
            return result
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


async def wait_for_phase(core: client.CoreV1Api, ns: str, name: str, phases: set[str], timeout: float = 30.0):
    async def check():
        pod = await core.read_namespaced_pod(name, ns)
        return pod if pod.status.phase in phases else None

    return await wait_for(check, f"pod {name} to reach {sorted(phases)}", timeout)


async def wait_until_gone(core: client.CoreV1Api, ns: str, name: str, timeout: float = 30.0) -> None:
    async def check():
        try:
            await core.read_namespaced_pod(name, ns)
            return False
        except client.ApiException as err:
            return err.status == 404

    await wait_for(check, f"pod {name} to be deleted", timeout)


async def events_for(core: client.CoreV1Api, ns: str, name: str) -> list:
    events = await core.list_namespaced_event(ns, field_selector=f"involvedObject.name={name}")
    return events.items
