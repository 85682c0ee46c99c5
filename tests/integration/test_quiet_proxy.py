"""A hub over the sandbox starts and serves a tunnelled server without errors in its log:
nothing uncaught in the proxy while browsers' websockets reconnect during start-up, no
proxy errors from start-up probing, no refused port-forwards while a server starts."""

from __future__ import annotations

import re
import shutil
import socket
import struct
import threading
import time

import pytest

from fedspawner.demo.runner import prepare_hub

from .hub_fixtures import HUB_TEST_CONFIG, TEST_HUB_PORT
from .sandbox_fixtures import TEST_STATE_DIR
from .spawn_helpers import spawn, stop
from .test_spawner import api, clean_user  # noqa: F401 - fixtures

pytestmark = pytest.mark.sandbox
PORT = TEST_HUB_PORT + 300  # a hub of its own, beside the session's
UPGRADE = ("GET /user/nobody/api/kernels/k/channels HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
           "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")


def _reset_websockets(port: int, until: threading.Event) -> int:
    """Open websocket upgrades to the proxy, read its answer and reset the connection (as a
    browser tab reconnecting its kernel does) until ``until`` is set; returns how many were
    answered."""
    answered = 0
    while not until.is_set():
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=1)
        except OSError:
            time.sleep(0.05)
            continue
        try:
            sock.sendall(UPGRADE.encode())
            sock.settimeout(5)
            if sock.recv(64).startswith(b"HTTP/"):
                answered += 1
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        finally:
            sock.close()
        time.sleep(0.05)
    return answered


def _proxy_errors(log: str) -> list[str]:
    """The proxy's error lines but its answers to this test's own websockets (a 503 while the
    hub does not listen yet, and http-proxy-3 failing to relay the hub's redirect to a client
    that already reset: "write ECONNRESET", an upstream fault of the proxy's relay)."""
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in log.splitlines() if "[ConfigProxy]" in line]
    return [line for line in lines if re.search(r"error|Uncaught", line)
            and "/user/nobody/" not in line and "write ECONNRESET" not in line]


def test_start_up_leaves_no_proxy_errors_while_websockets_reconnect(sandbox):
    state = TEST_STATE_DIR.parent / "quiet-hub"
    shutil.rmtree(state, ignore_errors=True)
    hub = prepare_hub(state, sandbox.state_dir, port=PORT, extra_config=HUB_TEST_CONFIG, log=lambda *_: None)
    started = threading.Event()
    answered: list[int] = []
    clients = threading.Thread(target=lambda: answered.append(_reset_websockets(PORT, started)))
    clients.start()
    try:
        hub.start()
        time.sleep(1)  # a few more reconnects once the hub answers
    finally:
        started.set()
        clients.join()
        hub.stop()
    assert answered and answered[0] > 0, "no websocket reached the proxy during start-up"
    errors = _proxy_errors(hub.log_path.read_text())
    assert errors == [], errors


def test_a_tunnelled_start_logs_no_refused_port_forwards(hub, api, clean_user):  # noqa: F811
    before = hub.log_path.stat().st_size
    model = spawn(api, clean_user, {"profile": "cpu", "cluster": "burst"})  # reached through the tunnel
    assert model.get("ready") and model["state"].get("tunnel_port"), model
    stop(api, clean_user)
    with open(hub.log_path, "rb") as log:
        log.seek(before)
        lines = log.read().decode(errors="replace").splitlines()
    noisy = [line for line in lines if "port-forward" in line and ("refused" in line or "[W " in line)]
    assert noisy == [], noisy
