"""Starting and stopping servers through a real hub's REST API, for the spawner tests."""

from __future__ import annotations

import json
import time
import urllib.request

from .hub_fixtures import TEST_API_TOKEN, HubClient


def server_path(user: str, server: str = "") -> str:
    return f"/users/{user}/servers/{server}" if server else f"/users/{user}/server"


def ensure_user(api: HubClient, user: str) -> None:
    status, _ = api.request("POST", f"/users/{user}")
    assert status in (201, 409), status


def server_model(api: HubClient, user: str, server: str = "") -> dict | None:
    status, model = api.request("GET", f"/users/{user}?include_stopped_servers=1")
    assert status == 200, model
    return model["servers"].get(server)


def spawn(api: HubClient, user: str, options: dict, server: str = "", timeout: float = 90) -> dict:
    """Start a server and wait until it is ready (or fails); returns the final server model,
    with the spawn's progress messages under ``"progress"`` (the test hub answers the
    POST at once, so the whole progress stream can be read)."""
    ensure_user(api, user)
    status, body = api.request("POST", server_path(user, server), options)
    if status not in (201, 202):
        return {"error": body, "status": status}
    messages = progress_messages(api, user, server, timeout=timeout)
    result = _wait_ready(api, user, server, status, timeout)
    result["progress"] = messages
    return result


def _wait_ready(api: HubClient, user: str, server: str, status: int, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        model = server_model(api, user, server)
        if model and model.get("ready"):
            return model
        if not model or not model.get("pending"):
            return {"error": "spawn failed", "model": model, "status": status}
        time.sleep(0.2)
    raise AssertionError(f"{user}/{server} did not become ready in {timeout}s")


def stop(api: HubClient, user: str, server: str = "", timeout: float = 60) -> None:
    status, body = api.request("DELETE", server_path(user, server))
    assert status in (202, 204, 400, 404), (status, body)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        model = server_model(api, user, server)
        if not model or (not model.get("pending") and not model.get("ready")):
            return
        time.sleep(0.2)
    raise AssertionError(f"{user}/{server} did not stop in {timeout}s")


def progress_messages(api: HubClient, user: str, server: str = "", timeout: float = 60) -> list[str]:
    """Every message of the spawn progress event stream (read until it ends)."""
    path = f"/users/{user}/servers/{server}/progress" if server else f"/users/{user}/server/progress"
    req = urllib.request.Request(f"{api.hub.url}/hub/api{path}",
                                 headers={"Authorization": f"token {TEST_API_TOKEN}"})
    messages = []
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        for raw in resp:
            line = raw.decode().strip()
            if line.startswith("data:"):
                event = json.loads(line[5:])
                messages.append(event.get("message", ""))
                if event.get("ready") or event.get("failed"):
                    break
    return messages


def user_token(api: HubClient, user: str) -> str:
    ensure_user(api, user)
    status, body = api.request("POST", f"/users/{user}/tokens", {"note": "test", "expires_in": 3600})
    assert status in (200, 201), body
    return body["token"]


def get_via_proxy(api: HubClient, path: str, token: str, timeout: float = 10) -> tuple[int, str]:
    req = urllib.request.Request(f"{api.hub.url}{path}", headers={"Authorization": f"token {token}"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read().decode(errors="replace")
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(errors="replace")
