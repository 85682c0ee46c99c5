"""End to end on the hub: a cell run in a kernel of a spawned notebook server (a pod on a
member cluster) submits a job through the gateway with the server's own token and
reads its result — as the README's demo cell does."""

from __future__ import annotations

import asyncio
import json
import uuid

import aiohttp
import pytest

from .spawn_helpers import spawn, stop, user_token

pytestmark = pytest.mark.sandbox

CELL = """
import time
from fedspawner import client
job = client.submit("job", "print('hello from', __import__('socket').gethostname())", name="hello")
while not job.done:
    time.sleep(0.3)
    job.refresh()
print("PHASE", job.phase, job.cluster)
print("LOG", "".join(client.logs(job.id)).strip())
print("EXT", "fedsubmit" in get_ipython().magics_manager.magics["cell"])
"""


async def run_cell(base: str, token: str, code: str, timeout: float = 120) -> str:
    """Execute ``code`` in a new kernel of a Jupyter server; return its stdout."""
    headers = {"Authorization": f"token {token}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.post(f"{base}/api/kernels", json={"name": "python3"}) as resp:
            assert resp.status == 201, await resp.text()
            kernel = await resp.json()
        try:
            ws_url = f"{base}/api/kernels/{kernel['id']}/channels".replace("http://", "ws://")
            async with http.ws_connect(ws_url) as ws:
                msg_id = uuid.uuid4().hex
                await ws.send_json({
                    "header": {"msg_id": msg_id, "username": "test", "session": uuid.uuid4().hex,
                               "msg_type": "execute_request", "version": "5.3"},
                    "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
                    "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                                "allow_stdin": False, "stop_on_error": True}})
                out = []
                async with asyncio.timeout(timeout):
                    async for frame in ws:
                        msg = json.loads(frame.data)
                        if msg.get("parent_header", {}).get("msg_id") != msg_id:
                            continue
                        kind = msg["header"]["msg_type"]
                        if kind == "stream":
                            out.append(msg["content"]["text"])
                        elif kind == "error":
                            out.append("\n".join(msg["content"]["traceback"]))
                        elif kind == "execute_reply":
                            return "".join(out)
        finally:
            await http.delete(f"{base}/api/kernels/{kernel['id']}")
    raise AssertionError("no execute_reply")


async def test_a_notebook_cell_submits_a_job_through_the_gateway(hub_api_client):
    api, user = hub_api_client, f"nb-{uuid.uuid4().hex[:6]}"
    model = spawn(api, user, {"profile": "cpu", "cluster": "onprem"})
    assert model.get("ready"), model
    try:
        output = await run_cell(f"{api.hub.url}/user/{user}", user_token(api, user), CELL)
        lines = dict(line.split(" ", 1) for line in output.strip().splitlines() if " " in line)
        assert lines.get("PHASE", "").startswith("Succeeded"), output
        assert lines["LOG"].startswith("hello from hello-"), output
        assert lines["EXT"] == "True", output  # the extension is loaded by the kernel's own config
    finally:
        stop(api, user)
