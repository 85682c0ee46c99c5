"""The magics in a real IPython shell, against the scripted gateway: output, errors, interrupts."""

from __future__ import annotations

import os
import signal
import threading

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from fedspawner.client import Job
from tests.unit.client_stub import TOKEN, StubGateway, make_job, pods


@pytest.fixture(scope="module")
def ip():
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "fedspawner")
    yield shell
    shell.run_line_magic("unload_ext", "fedspawner")


@pytest.fixture
def stub(monkeypatch):
    with StubGateway() as server:
        monkeypatch.setenv("FEDSPAWNER_GATEWAY_URL", server.url)
        monkeypatch.setenv("JUPYTERHUB_API_TOKEN", TOKEN)
        yield server


def shown(cap) -> str:
    """Everything a cell showed, as text (displays and stdout)."""
    return "\n".join([output.data.get("text/plain", "") for output in cap.outputs] + [cap.stdout])


def test_extension_registers_and_unregisters_the_magics(ip):
    magics = ip.magics_manager.magics

    def registered() -> dict[str, set[str]]:
        return {kind: {name for name in ("fedsubmit", "fedjobs", "fedlogs", "fedcancel", "fedattach")
                       if name in magics[kind]} for kind in ("cell", "line")}

    everything = {"cell": {"fedsubmit"}, "line": {"fedjobs", "fedlogs", "fedcancel", "fedattach"}}
    assert registered() == everything and "FedMagics" in ip.magics_manager.registry
    ip.run_line_magic("unload_ext", "fedspawner")
    assert registered() == {"cell": set(), "line": set()}
    assert "FedMagics" not in ip.magics_manager.registry
    ip.run_line_magic("load_ext", "fedspawner")
    assert registered() == everything


def test_fedsubmit_returns_a_job_handle(ip, stub):
    job = ip.run_cell_magic("fedsubmit", "pytorch -n ddp --nodes 2 --cluster onprem,regional --env A=1",
                            "print('hello')\n")
    assert isinstance(job, Job) and job.name == "ddp"
    assert stub.requests[0]["body"] == {"kind": "pytorch", "script": "print('hello')\n", "name": "ddp",
                                        "nodes": 2, "env": {"A": "1"}, "cluster": ["onprem", "regional"]}


def test_fedsubmit_detach_prints_the_id(ip, stub):
    with capture_output() as cap:
        result = ip.run_cell_magic("fedsubmit", "job --detach", "print(1)")
    assert result is None
    job_id = next(iter(stub.jobs))
    assert f"Submitted {job_id}" in shown(cap) and f"%fedattach {job_id}" in shown(cap)


@pytest.mark.parametrize("line, fragment", [
    ("pytorh", "Unknown kind of job 'pytorh'"),
    ("job --env NOEQUALS", "--env takes KEY=VALUE pairs"),
    ("job --gpus A100:many", "--gpus takes TYPE:N"),
    ("job --nodes -2", "--nodes must be a whole number from 1 to 1000"),
])
def test_bad_arguments_print_one_paragraph_and_send_nothing(ip, stub, line, fragment):
    with capture_output() as cap:
        assert ip.run_cell_magic("fedsubmit", line, "print(1)") is None
    text = shown(cap)
    assert fragment in text and "Traceback" not in text and text.startswith("fedspawner: ")
    assert cap.outputs[0].data["text/html"].startswith('<div style="background:#fdecea')
    assert stub.requests == []


def test_gateway_refusals_are_printed(ip, stub):
    message = "No member cluster has nvidia-b200 GPUs; the types available are nvidia-a100-40gb, nvidia-l4."
    stub.fail_next("POST", "/jobs", 400, {"status": 400, "message": message})
    with capture_output() as cap:
        assert ip.run_cell_magic("fedsubmit", "pytorch --gpus nvidia-b200:1", "x = 1") is None
    assert shown(cap).strip() == f"fedspawner: {message}"


def test_no_token_is_explained(ip, stub, monkeypatch):
    monkeypatch.delenv("JUPYTERHUB_API_TOKEN")
    with capture_output() as cap:
        ip.run_line_magic("fedjobs", "")
    assert "JUPYTERHUB_API_TOKEN is not set" in shown(cap)


def test_help_prints_help(ip, stub):
    with capture_output() as cap:
        assert ip.run_line_magic("fedlogs", "--help") is None
    assert "--tail N" in cap.stdout and stub.requests == []


def test_fedjobs_table(ip, stub):
    stub.add(make_job("j-aaaaaaaa", phase="Running"))
    with capture_output() as cap:
        assert ip.run_line_magic("fedjobs", "--all") is None
    assert "owner" in shown(cap).splitlines()[0] and "j-aaaaaaaa" in shown(cap)
    assert stub.requests[-1]["query"] == {"all": "1"}


def test_fedlogs_by_id_and_by_name(ip, stub):
    stub.add(make_job("j-aaaaaaaa", name="old", phase="Succeeded"))
    stub.add(make_job("j-bbbbbbbb", name="ddp", phase="Succeeded"))
    stub.add(make_job("j-cccccccc", name="ddp", phase="Succeeded"))
    stub.log("j-cccccccc", "newest")
    stub.log("j-aaaaaaaa", "x", "y", "z")
    with capture_output() as cap:
        ip.run_line_magic("fedlogs", "j-aaaaaaaa --tail 2")
    assert cap.stdout == "y\nz\n"
    with capture_output() as cap:
        ip.run_line_magic("fedlogs", "ddp")
    assert "newest" in cap.stdout and "using the newest, j-cccccccc" in shown(cap)
    with capture_output() as cap:
        ip.run_line_magic("fedlogs", "nosuchjob")
    assert "You have no job with the id or name 'nosuchjob'" in shown(cap)


def test_interrupting_fedlogs_follow_stops_following_and_never_cancels(ip, stub):
    stub.add(make_job("j-aaaaaaaa", phase="Running", pods=pods("Running")))
    stub.log("j-aaaaaaaa", "step 1")
    threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
    with capture_output() as cap:
        ip.run_line_magic("fedlogs", "j-aaaaaaaa -f")
    assert "step 1" in cap.stdout
    assert "Stopped following the log of j-aaaaaaaa; the job keeps running" in shown(cap)
    assert stub.seen("DELETE", ".") == [] and stub.jobs["j-aaaaaaaa"]["phase"] == "Running"


def test_fedcancel_and_fedattach(ip, stub):
    stub.add(make_job("j-aaaaaaaa", phase="Running"))
    job = ip.run_line_magic("fedattach", "j-aaaaaaaa")
    assert isinstance(job, Job) and job.phase == "Running"
    with capture_output() as cap:
        assert ip.run_line_magic("fedcancel", "ddp") is None
    assert "Cancelled j-aaaaaaaa (ddp) on onprem" in shown(cap)
    assert len(stub.seen("DELETE", "j-aaaaaaaa")) == 1
    with capture_output() as cap:
        assert ip.run_line_magic("fedattach", "j-aaaaaaaa") is None
    assert shown(cap).strip() == "fedspawner: No job 'j-aaaaaaaa'."  # the gateway's 404 message
