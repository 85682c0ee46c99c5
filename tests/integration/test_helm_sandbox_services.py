"""Sandbox pieces the zero-to-jupyterhub chart needs: Services whose port differs from
their targetPort (the chart's proxy-public: 80 -> http/8000), and the service-link
environment variables charts build URLs from (http://hub:$(HUB_SERVICE_PORT))."""

from __future__ import annotations

import urllib.request

import pytest
from kubernetes_asyncio import client

from .kube_helpers import pod_manifest, unique, wait_for, wait_for_phase

pytestmark = pytest.mark.sandbox

SERVE = ["python", "-u", "-c", """
import http.server, os, socketserver
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(os.environ['POD_NAME'].encode())
    def log_message(self, *a): pass
socketserver.TCPServer(('0.0.0.0', 8000), H).serve_forever()
"""]


def _service(name: str, selector: dict, ports: list[dict]) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": selector, "ports": ports}}


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.read().decode()


async def test_service_port_80_reaches_the_pods_named_target_port(sandbox, hub_api):
    async with hub_api("onprem") as api:
        core = client.CoreV1Api(api)
        ns, name = sandbox.namespace, unique("web")
        pod = pod_manifest(name, SERVE, labels={"app": name})
        container = pod["spec"]["containers"][0]
        container["ports"] = [{"name": "http", "containerPort": 8000}]
        container["env"] = [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]
        container["readinessProbe"] = {"tcpSocket": {"port": "http"}, "periodSeconds": 1}
        await core.create_namespaced_pod(ns, pod)
        svc = await core.create_namespaced_service(ns, _service(name, {"app": name}, [
            {"name": "http", "port": 80, "targetPort": "http"}, {"name": "alt", "port": 8081, "targetPort": 8000}]))
        try:
            ip = svc.spec.cluster_ip
            assert ip.startswith("127.")  # the sandbox's loopback service range

            async def answered():
                try:
                    return _get(f"http://{ip}:80/")
                except OSError:
                    return None

            assert await wait_for(answered, f"{ip}:80 to answer", timeout=30, interval=0.2) == name
            assert _get(f"http://{ip}:8081/") == name  # a numeric targetPort too
            await core.delete_namespaced_service(name, ns)

            async def closed():
                try:
                    _get(f"http://{ip}:80/")
                    return False
                except OSError:
                    return True

            assert await wait_for(closed, f"{ip}:80 to close once the Service is gone", timeout=10, interval=0.2)
        finally:
            await core.delete_namespaced_pod(name, ns, grace_period_seconds=0)
            try:
                await core.delete_namespaced_service(name, ns)
            except client.ApiException:
                pass


PRINT_ENV = ["python", "-c", "import os; print(sorted(k + '=' + v for k, v in os.environ.items() "
             "if '_SERVICE_' in k or k.endswith('_TCP') or k == 'TARGET'))"]


async def _env_of(core, ns: str, *, service_links: bool | None) -> str:
    name = unique("env")
    pod = pod_manifest(name, PRINT_ENV)
    pod["spec"]["containers"][0]["env"] = [{"name": "TARGET", "value": "http://x:$(LINKED_SVC_SERVICE_PORT)"}]
    if service_links is not None:
        pod["spec"]["enableServiceLinks"] = service_links
    await core.create_namespaced_pod(ns, pod)
    try:
        await wait_for_phase(core, ns, name, {"Succeeded"})
        return await core.read_namespaced_pod_log(name, ns)
    finally:
        await core.delete_namespaced_pod(name, ns, grace_period_seconds=0)


async def test_pods_get_service_link_variables_unless_turned_off(sandbox, hub_api):
    async with hub_api("onprem") as api:
        core = client.CoreV1Api(api)
        ns = sandbox.namespace
        svc = await core.create_namespaced_service(ns, _service("linked-svc", {"app": "none"}, [
            {"name": "web-ui", "port": 8081, "targetPort": 9000}]))
        try:
            ip = svc.spec.cluster_ip
            out = await _env_of(core, ns, service_links=None)
            for expected in (f"LINKED_SVC_SERVICE_HOST={ip}", "LINKED_SVC_SERVICE_PORT=8081",
                             "LINKED_SVC_SERVICE_PORT_WEB_UI=8081", f"LINKED_SVC_PORT_8081_TCP=tcp://{ip}:8081",
                             "TARGET=http://x:8081"):
                assert expected in out, out
            # KUBERNETES_SERVICE_* keep pointing at the loopback apiserver
            assert f"KUBERNETES_SERVICE_PORT={sandbox.state['clusters'][0]['ports']['apiserver']}" in out
            out = await _env_of(core, ns, service_links=False)
            assert "LINKED_SVC_SERVICE_HOST" not in out and "TARGET=http://x:$(LINKED_SVC_SERVICE_PORT)" in out
        finally:
            await core.delete_namespaced_service("linked-svc", ns)
