"""A hub over the sandbox starts and serves a tunnelled server without errors in its log:
nothing uncaught in the proxy while clients reset websockets during start-up, no proxy
errors from start-up probing, no refused port-forwards while the server starts."""

from __future__ import annotations

import re
import shutil
import socket
import struct
import threading
import time

import pytest

from fedspawner.demo.runner import prepare_hub

from .conftest import HUB_TEST_CONFIG, TEST_HUB_PORT, TEST_STATE_DIR, HubClient
from .spawn_helpers import spawn, stop

pytestmark = pytest.mark.sandbox
PORT = TEST_HUB_PORT + 300  # a hub of its own, beside the session's
UPGRADE = ("GET /user/nobody/api/kernels/k/channels HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
           "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")


def _reset_websockets(port: int, until: threading.Event) -> int:
    """Open websocket upgrades to the proxy and reset each (as a browser tab reconnecting its
    kernel does) until ``until`` is set; returns how many reached the proxy."""
    sent = 0
    while not until.is_set():
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=1)
        except OSError:
            time.sleep(0.05)
            continue
        try:
            sock.sendall(UPGRADE.encode())
            time.sleep(0.1)  # the proxy has answered
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sent += 1
        except OSError:
            pass
        finally:
            sock.close()
    return sent


def _proxy_errors(log: str) -> list[str]:
    return [line for line in log.splitlines() if "[ConfigProxy]" in line and re.search(r"error|Uncaught", line)]


def test_start_up_and_a_tunnelled_start_leave_no_errors(sandbox):
    state = TEST_STATE_DIR.parent / "quiet-hub"
    shutil.rmtree(state, ignore_errors=True)
    hub = prepare_hub(state, sandbox.state_dir, port=PORT, extra_config=HUB_TEST_CONFIG, log=lambda *_: None)
    started = threading.Event()
    counted: list[int] = []
    clients = threading.Thread(target=lambda: counted.append(_reset_websockets(PORT, started)))
    clients.start()
    try:
        hub.start()
        started.set()
        clients.join()
        assert counted and counted[0] > 0, "no websocket reached the proxy during start-up"
        log = hub.log_path.read_text()
        assert _proxy_errors(log) == [], _proxy_errors(log)

        api = HubClient(hub)
        model = spawn(api, "quiet", {"profile": "cpu", "cluster": "burst"})  # reached through the tunnel
        assert model.get("ready") and model["state"].get("tunnel_port"), model
        stop(api, "quiet")
        log = hub.log_path.read_text()
        assert _proxy_errors(log) == [], _proxy_errors(log)
        refused = [line for line in log.splitlines() if "port-forward" in line and "refused" in line]
        assert refused == [], refused
    finally:
        started.set()
        hub.stop()
