"""The sandbox node agent runs pods as real local processes (issue: sandbox §3.3, §3.4)."""

from __future__ import annotations

import os
import time
import urllib.request

import pytest
from kubernetes_asyncio import client

from .kube_helpers import pod_manifest, unique, wait_for, wait_for_phase, wait_until_gone

pytestmark = pytest.mark.sandbox

SERVE = ["python", "-u", "-c", """
import http.server, os, socketserver
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = (os.environ['POD_NAME'] + ' pid ' + str(os.getpid())).encode()
        self.send_response(200); self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): print('request', self.path, flush=True)
print('serving', flush=True)
socketserver.TCPServer(('0.0.0.0', 8888), H).serve_forever()
"""]
POD_NAME_ENV = [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]


def _serving_pod(name: str) -> dict:
    manifest = pod_manifest(name, SERVE)
    manifest["spec"]["containers"][0]["env"] = POD_NAME_ENV
    manifest["spec"]["containers"][0]["readinessProbe"] = {"httpGet": {"path": "/ready", "port": 8888},
                                                           "periodSeconds": 1}
    return manifest


async def _ready(core, ns, name):
    async def check():
        pod = await core.read_namespaced_pod(name, ns)
        statuses = pod.status.container_statuses or []
        return pod if statuses and all(s.ready for s in statuses) else None

    return await wait_for(check, f"pod {name} to be Ready")


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.read().decode()


async def test_pods_serve_http_on_their_own_loopback_address(sandbox, hub_api):
    """Two pods both bind 0.0.0.0:8888; each ends up on its own pod IP."""
    async with hub_api("onprem") as api:
        core = client.CoreV1Api(api)
        names = [unique("web"), unique("web")]
        for name in names:
            await core.create_namespaced_pod(sandbox.namespace, _serving_pod(name))
        try:
            pods = [await _ready(core, sandbox.namespace, n) for n in names]
            ips = [p.status.pod_ip for p in pods]
            assert len(set(ips)) == 2
            for name, ip in zip(names, ips):
                assert ip.startswith(sandbox.pod_ip_prefix("onprem") + ".")
                assert _get(f"http://{ip}:8888/").startswith(name + " pid ")
            # Nothing answers on the wildcard's usual address: each binds only its own.
            with pytest.raises(OSError):
                _get("http://127.0.0.1:8888/")
            log = await core.read_namespaced_pod_log(names[0], sandbox.namespace)
            assert "serving" in log and "request /" in log
        finally:
            for name in names:
                await core.delete_namespaced_pod(name, sandbox.namespace)


async def test_pod_logs_follow_streams_lines_as_they_are_written(sandbox, hub_api):
    async with hub_api("regional") as api:
        core = client.CoreV1Api(api)
        name = unique("ticker")
        script = "import time\nfor i in range(8):\n    print('tick', i, flush=True)\n    time.sleep(0.3)\n"
        await core.create_namespaced_pod(sandbox.namespace, pod_manifest(name, ["python", "-c", script]))
        try:
            await wait_for_phase(core, sandbox.namespace, name, {"Running", "Succeeded"})
            resp = await core.read_namespaced_pod_log(name, sandbox.namespace, follow=True, _preload_content=False)
            arrivals = []
            while True:
                line = await resp.content.readline()
                if not line:
                    break
                arrivals.append((time.monotonic(), line.decode().strip()))
            resp.release()
            assert [text for _, text in arrivals] == [f"tick {i}" for i in range(8)]
            # Lines arrived over time (streamed), not all at once at the end.
            assert arrivals[-1][0] - arrivals[0][0] > 1.0
            pod = await wait_for_phase(core, sandbox.namespace, name, {"Succeeded"})
            assert pod.status.container_statuses[0].state.terminated.exit_code == 0
            tail = await core.read_namespaced_pod_log(name, sandbox.namespace, tail_lines=2, timestamps=True)
            assert tail.splitlines()[-1].endswith("tick 7") and tail.count("\n") == 2
        finally:
            await core.delete_namespaced_pod(name, sandbox.namespace)


async def test_exit_codes_and_restart_policy(sandbox, hub_api):
    async with hub_api("burst") as api:
        core = client.CoreV1Api(api)
        failing, restarting = unique("fail"), unique("restart")
        await core.create_namespaced_pod(sandbox.namespace, pod_manifest(failing, ["python", "-c", "exit(3)"]))
        await core.create_namespaced_pod(sandbox.namespace, pod_manifest(
            restarting, ["python", "-c", "print('once'); exit(1)"], restart="OnFailure"))
        try:
            pod = await wait_for_phase(core, sandbox.namespace, failing, {"Failed"})
            terminated = pod.status.container_statuses[0].state.terminated
            assert (terminated.exit_code, terminated.reason) == (3, "Error")

            async def restarted():
                pod = await core.read_namespaced_pod(restarting, sandbox.namespace)
                statuses = pod.status.container_statuses or []
                return statuses and statuses[0].restart_count >= 1

            await wait_for(restarted, "a container restart", timeout=20)
            previous = await core.read_namespaced_pod_log(restarting, sandbox.namespace, previous=True)
            assert previous.strip() == "once"
        finally:
            for name in (failing, restarting):
                await core.delete_namespaced_pod(name, sandbox.namespace)


async def test_deleting_a_pod_terminates_its_process(sandbox, hub_api):
    async with hub_api("onprem") as api:
        core = client.CoreV1Api(api)
        name = unique("victim")
        await core.create_namespaced_pod(sandbox.namespace, _serving_pod(name))
        pod = await _ready(core, sandbox.namespace, name)
        pid = int(_get(f"http://{pod.status.pod_ip}:8888/").split(" pid ")[1])
        assert os.path.exists(f"/proc/{pid}")
        await core.delete_namespaced_pod(name, sandbox.namespace)
        await wait_until_gone(core, sandbox.namespace, name)
        assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"


async def test_volumes_env_and_hostname(sandbox, hub_api):
    """ConfigMap volumes appear at their mount path; env from the downward API; hostname set."""
    async with hub_api("regional") as api:
        core = client.CoreV1Api(api)
        name = unique("vols")
        await core.create_namespaced_config_map(sandbox.namespace, {
            "metadata": {"name": name}, "data": {"main.py": "print('from configmap')"}})
        manifest = pod_manifest(name, ["sh", "-c", "python /sandbox-test/main.py; hostname; echo ip=$MY_IP; "
                                       "test -f /var/run/secrets/kubernetes.io/serviceaccount/token && echo token"])
        manifest["spec"]["volumes"] = [{"name": "code", "configMap": {"name": name}}]
        manifest["spec"]["containers"][0]["volumeMounts"] = [{"name": "code", "mountPath": "/sandbox-test"}]
        manifest["spec"]["containers"][0]["env"] = [
            {"name": "MY_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}]
        await core.create_namespaced_pod(sandbox.namespace, manifest)
        try:
            pod = await wait_for_phase(core, sandbox.namespace, name, {"Succeeded", "Failed"})
            log = await core.read_namespaced_pod_log(name, sandbox.namespace)
            assert log.splitlines() == ["from configmap", name, f"ip={pod.status.pod_ip}", "token"], log
            assert not os.path.exists("/sandbox-test/main.py")  # the mount stayed inside the pod
        finally:
            await core.delete_namespaced_pod(name, sandbox.namespace)
            await core.delete_namespaced_config_map(name, sandbox.namespace)


async def test_indexed_job_runs_to_complete_and_pods_resolve_each_other(sandbox, hub_api):
    """Two completions through the real Job controller; pod 1 reaches pod 0 by its DNS name."""
    async with hub_api("onprem") as api:
        core, batch = client.CoreV1Api(api), client.BatchV1Api(api)
        name = unique("idx")
        await core.create_namespaced_service(sandbox.namespace, {
            "metadata": {"name": name},
            "spec": {"clusterIP": "None", "selector": {"job-name": name}, "ports": [{"port": 9000}]}})
        script = f"""
import os, socket, time
index = int(os.environ['JOB_COMPLETION_INDEX'])
if index == 0:
    server = socket.create_server(('0.0.0.0', 9000))
    conn, _ = server.accept()
    print('rank 0 got', conn.recv(100).decode(), flush=True)
else:
    for _ in range(100):
        try:
            s = socket.create_connection(('{name}-0.{name}', 9000), timeout=1); break
        except OSError:
            time.sleep(0.1)
    s.sendall(b'hello from rank 1')
    print('rank 1 sent to', s.getpeername()[0], flush=True)
"""
        await batch.create_namespaced_job(sandbox.namespace, {
            "metadata": {"name": name},
            "spec": {"completions": 2, "parallelism": 2, "completionMode": "Indexed", "backoffLimit": 0,
                     "template": {"spec": {"subdomain": name, "restartPolicy": "Never",
                                           "containers": [{"name": "main", "image": "python:3.11-slim",
                                                           "command": ["python", "-c", script]}]}}}})
        try:
            async def finished():
                job = await batch.read_namespaced_job(name, sandbox.namespace)
                done = {c.type for c in job.status.conditions or [] if c.status == "True"}
                return done & {"Complete", "Failed"}

            assert await wait_for(finished, "the job to finish", timeout=60) >= {"Complete"}
            pods = (await core.list_namespaced_pod(sandbox.namespace, label_selector=f"job-name={name}")).items
            logs = {p.metadata.labels["batch.kubernetes.io/job-completion-index"]:
                    await core.read_namespaced_pod_log(p.metadata.name, sandbox.namespace) for p in pods}
            pod0 = next(p for p in pods if p.metadata.labels["batch.kubernetes.io/job-completion-index"] == "0")
            assert logs["0"].strip() == "rank 0 got hello from rank 1"
            assert logs["1"].strip() == f"rank 1 sent to {pod0.status.pod_ip}"
        finally:
            await batch.delete_namespaced_job(name, sandbox.namespace, propagation_policy="Background")
            await core.delete_namespaced_service(name, sandbox.namespace)
