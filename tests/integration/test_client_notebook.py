"""The kernel side in real kernels (nbclient) against the real gateway, hub and sandbox (issue 4 §3, §4).

A notebook loads the extension, submits a plain ``job`` and a 2-node ``pytorch`` DDP job (CPU, gloo)
with ``%%fedsubmit``, and waits on the widgets' traits from cells that ``await`` (so the widgets keep
following on the kernel's event loop meanwhile). A second notebook submits a long job, restarts its
kernel, finds the job again with ``%fedattach`` (the extension loaded by the kernel config that
``fedspawner kernel-autoload enable --user`` wrote), interrupts ``%fedlogs -f`` and cancels with ``%fedcancel``.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from fedspawner.client import Gateway, GatewayRequestError

from .sandbox_fixtures import TEST_STATE_DIR
from .spawn_helpers import user_token
from .test_gateway_support import DDP_SCRIPT, gone, leftovers

pytestmark = pytest.mark.sandbox
USER = "ada"
NS = "fedspawner"
OUT_DIR = TEST_STATE_DIR.parent / "notebooks"

WAIT_HELPER = '''
import asyncio, json, time

async def wait_for(widget, phases=("Succeeded", "Failed", "Cancelled"), timeout=240, ranks=None):
    """Await until the widget shows one of ``phases`` (and, if given, that many rank rows)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if widget.phase in phases and (ranks is None or len(widget.ranks) == ranks):
            break
        await asyncio.sleep(0.1)
    ended = ("Succeeded", "Failed", "Cancelled")
    while widget.phase in ended and widget.following and time.monotonic() < deadline:
        await asyncio.sleep(0.1)  # a finished job: let the widget wind down (last log lines)
    return {"id": widget.job_id, "phase": widget.phase, "history": widget.phase_history,
            "cluster": widget.cluster, "ranks": widget.ranks, "log": widget.log_tail,
            "following": widget.following, "progress": widget.progress, "message": widget.message,
            "status": widget.status}

def report(state):
    print("RESULT " + json.dumps(state))
'''


class Notebook:
    """A notebook run cell by cell in a real kernel by nbclient (so tests can restart and interrupt)."""

    def __init__(self, name: str, env: dict[str, str]) -> None:
        self.name = name
        self.env = env
        self.nb = nbformat.v4.new_notebook()
        self.client = NotebookClient(self.nb, timeout=600, kernel_name="python3", allow_errors=False,
                                     resources={"metadata": {"path": str(OUT_DIR)}})

    async def __aenter__(self) -> Notebook:
        OUT_DIR.mkdir(parents=True, exist_ok=True)
        self._kernel = self.client.async_setup_kernel(env=self.env)
        await self._kernel.__aenter__()
        return self

    async def __aexit__(self, *exc) -> None:
        nbformat.write(self.nb, OUT_DIR / f"{self.name}.ipynb")  # for a look after a failure
        await self._kernel.__aexit__(*exc)

    async def run(self, source: str) -> str:
        """Execute one new cell; returns its text output (stdout and text/plain displays)."""
        cell = nbformat.v4.new_code_cell(source)
        self.nb.cells.append(cell)
        await self.client.async_execute_cell(cell, len(self.nb.cells) - 1)
        return cell_text(cell)

    async def result(self, source: str) -> dict:
        """Execute a cell that calls ``report(...)`` and return the reported dict."""
        text = await self.run(source)
        line = next((line for line in text.splitlines() if line.startswith("RESULT ")), None)
        assert line is not None, text
        return json.loads(line.removeprefix("RESULT "))

    async def restart(self) -> None:
        await self.client.km.restart_kernel(now=True)
        await self.client.kc.wait_for_ready(timeout=60)


def cell_text(cell) -> str:
    parts = []
    for output in cell.outputs:
        if output.output_type == "stream":
            parts.append(output.text)
        elif "data" in output:
            parts.append(output.data.get("text/plain", "") + "\n")
    return "".join(parts)


@pytest.fixture(scope="module")
def kernel_env(gateway_up, hub_api_client, tmp_path_factory):
    """A kernel environment like a single-user server's: the user's token, the gateway's URL, and an
    IPython profile in which ``fedspawner kernel-autoload enable --user`` loads the extension."""
    url = f"{gateway_up.url}/services/fedspawner-gateway/"
    token = user_token(hub_api_client, USER)
    env = dict(os.environ, JUPYTERHUB_API_TOKEN=token, FEDSPAWNER_GATEWAY_URL=url,
               IPYTHONDIR=str(tmp_path_factory.mktemp("ipython")), PYDEVD_DISABLE_FILE_VALIDATION="1")
    subprocess.run([sys.executable, "-m", "fedspawner.client.autoload", "enable", "--user"], env=env, check=True,
                   capture_output=True)
    assert (Path(env["IPYTHONDIR"]) / "profile_default" / "ipython_kernel_config.py").is_file()
    yield env
    gateway = Gateway(url, token)
    for job in gateway.jobs():  # leave nothing behind on the clusters
        try:
            gateway.cancel(job.id)
        except GatewayRequestError:
            pass


async def test_widget_traits_follow_job_and_ddp_phases(sandbox, kernel_env, admin_api):
    async with Notebook("client-phases", kernel_env) as nb:
        await nb.run("%load_ext fedspawner")
        await nb.run(WAIT_HELPER)

        await nb.run('%%fedsubmit job -n hello-job\nimport time\nprint("hello from the job", flush=True)\n'
                     'time.sleep(4)\nprint("job done", flush=True)\n')
        await nb.run("job1 = _\nw1 = job1.widget")
        state = await nb.result("report(await wait_for(w1))")
        assert state["phase"] == "Succeeded", state
        assert state["history"] == ["Pending", "Running", "Succeeded"], state
        assert state["cluster"] in sandbox.clusters and state["following"] is False
        assert "hello from the job" in state["log"] and "job done" in state["log"], state
        assert [row["phase"] for row in state["ranks"]] == ["Succeeded"], state

        await nb.run(f"%%fedsubmit pytorch -n ddp-gloo --nodes 2 --cluster onprem\n{DDP_SCRIPT}")
        await nb.run("job2 = _\nw2 = job2.widget")
        running = await nb.result('report(await wait_for(w2, phases=("Running", "Succeeded", "Failed"), '
                                  'ranks=2))')
        assert running["phase"] in ("Running", "Succeeded"), running
        state = await nb.result("report(await wait_for(w2))")
        assert state["phase"] == "Succeeded", state
        assert state["history"] == ["Pending", "Running", "Succeeded"], state
        assert state["cluster"] == "onprem"
        made = await leftovers(admin_api, "onprem", NS, state["id"])  # onprem runs Kubeflow Trainer
        assert any(name.startswith("TrainJob/") for name in made), made
        assert len(state["ranks"]) == 2 and {row["phase"] for row in state["ranks"]} == {"Succeeded"}, state
        assert all(row["node"] for row in state["ranks"]), state
        assert "rank 0 of 2: all-reduced value = 3.0" in state["log"], state  # 1 + 2 summed over both ranks
        assert "FEDSPAWNER_PROGRESS" not in state["log"], state  # shown as the progress bar instead
        assert state["progress"] and state["progress"]["step"] == 3, state

        table = await nb.run("%fedjobs")
        assert "ddp-gloo" in table and "hello-job" in table
        rank1 = await nb.run("%fedlogs ddp-gloo --rank 1")
        assert "rank 1 of 2: all-reduced value = 3.0" in rank1

        errors = await nb.run("%%fedsubmit pytorch --nodes 64 --gpus nvidia-h100-80gb:8\nprint(1)")
        assert errors.startswith("fedspawner: ") and "Traceback" not in errors, errors
        bad = await nb.run("%%fedsubmit pytorch --env NOEQUALS\nprint(1)")
        assert "--env takes KEY=VALUE pairs" in bad


async def test_cancel_button_in_a_real_kernel(sandbox, kernel_env, admin_api):
    """Two clicks on the widget's Cancel button, sent as the frontend sends them, cancel the job."""
    async with Notebook("client-cancel-button", kernel_env) as nb:
        await nb.run(WAIT_HELPER)
        await nb.run("%%fedsubmit job -n cancel-me --cluster regional\nimport time\ntime.sleep(600)\n")
        await nb.run("w = _.widget")
        state = await nb.result('report(dict(await wait_for(w, phases=("Running",), ranks=1), '
                                'button=w.cancel_button.model_id))')
        assert state["phase"] == "Running", state
        assert await leftovers(admin_api, "regional", NS, state["id"])
        for _ in range(2):  # the first click arms the button, the second cancels
            click = nb.client.kc.session.msg("comm_msg", {"comm_id": state["button"], "data": {
                "method": "custom", "content": {"event": "click"}}})
            nb.client.kc.shell_channel.send(click)
        final = await nb.result("report(await wait_for(w, timeout=60))")
        assert final["phase"] == "Cancelled" and not final["following"], final
        assert await gone(admin_api, "regional", NS, state["id"]) == []


async def test_reattach_after_kernel_restart_interrupt_and_cancel(sandbox, kernel_env, admin_api):
    gateway = Gateway(kernel_env["FEDSPAWNER_GATEWAY_URL"], kernel_env["JUPYTERHUB_API_TOKEN"])
    async with Notebook("client-reattach", kernel_env) as nb:
        await nb.run("%load_ext fedspawner")
        out = await nb.run('%%fedsubmit job -n long-job --detach\nimport time\nfor i in range(600):\n'
                           '    print(f"tick {i}", flush=True)\n    time.sleep(0.5)\n')
        job_id = next(word for word in out.split() if word.startswith("j-"))
        assert f"%fedattach {job_id}" in out

        await nb.restart()
        # no %load_ext: the profile's kernel config (kernel-autoload enable) loads it in every new kernel
        await nb.run(WAIT_HELPER)
        await nb.run(f"job = %fedattach {job_id}\nw = job.widget")
        state = await nb.result('report(await wait_for(w, phases=("Running",), ranks=1))')
        assert state["id"] == job_id and state["phase"] == "Running" and state["following"], state
        state = await nb.result("await asyncio.sleep(2)\nreport(await wait_for(w, phases=('Running',)))")
        assert "tick" in state["log"], state

        # interrupting a cell that follows the log stops following, and never cancels the job
        cell = asyncio.create_task(nb.run(f"%fedlogs {job_id} -f --tail 3"))
        await asyncio.sleep(3)
        await nb.client.km.interrupt_kernel()
        followed = await asyncio.wait_for(cell, 30)
        assert "tick" in followed and f"Stopped following the log of {job_id}" in followed, followed
        assert gateway.job(job_id).phase == "Running"

        cluster = gateway.job(job_id).cluster
        assert await leftovers(admin_api, cluster, NS, job_id)
        cancelled = await nb.run(f"%fedcancel {job_id}")
        assert f"Cancelled {job_id}" in cancelled, cancelled
        state = await nb.result("report(await wait_for(w, timeout=30))")
        assert state["phase"] == "Cancelled" and not state["following"], state
        assert await gone(admin_api, cluster, NS, job_id) == []
        with pytest.raises(GatewayRequestError) as info:
            gateway.job(job_id)
        assert info.value.status == 404
