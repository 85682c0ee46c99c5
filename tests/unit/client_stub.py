"""A scripted stand-in for the gateway's REST API v1, for the client's unit tests.

``StubGateway`` serves the contract's endpoints from memory on a loopback port
in a background thread, so both the blocking and the asyncio transports can
talk to it. Tokens are checked by the gateway's own ``Authenticator`` (the hub
knows one token, ``TOKEN``), so a missing or refused token gets the gateway's
real answer. Tests change a job with ``set(job_id, **fields)`` (every watcher
gets a line), add log lines with ``log(job_id, *lines)``, break every open
stream with ``drop_streams()`` (a gateway restart), make an endpoint fail with
``fail_next(...)``, and read what was sent in ``requests``.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from fedspawner.gateway.auth import DEFAULT_ACCESS, Authenticator
from fedspawner.gateway.errors import GatewayError

TOKEN = "stub-token"
FINISHED = {"Succeeded", "Failed", "Cancelled"}


def make_job(job_id: str = "j-abcdefgh", **fields) -> dict:
    """A Job dict as the contract describes it, with a 2-rank pytorch job's defaults."""
    job = {"id": job_id, "name": "ddp", "kind": "pytorch", "owner": "alice", "cluster": "onprem",
           "backend": "indexed-job", "gpu_type": None, "gpus_per_node": 0, "nodes": 2, "image": "pytorch/x",
           "phase": "Pending", "message": "", "created": "2025-01-01T00:00:00+00:00", "started": None,
           "finished": None, "pods": [], "progress": None, "ui_url": None, "history": []}
    job.update(fields)
    return job


def pods(*phases: str, node: str = "gpu-1") -> list[dict]:
    """Pods of a torchrun job in the given phases, rank 0 first."""
    return [{"name": f"ddp-{rank}", "rank": rank, "role": "rank", "phase": phase, "node": node,
             "restarts": 0, "ready": phase == "Running", "reason": None} for rank, phase in enumerate(phases)]


class _Hub:
    """JupyterHub as the gateway's ``Authenticator`` asks it (``HubAuth``): ``TOKEN`` is alice's."""

    access_scopes = DEFAULT_ACCESS

    def get_token(self, handler, in_cookie: bool = True) -> str | None:
        scheme, _, token = (handler.headers.get("Authorization") or "").partition(" ")
        return token.strip() or None if scheme.lower() in ("token", "bearer") else None

    async def user_for_token(self, token: str, sync: bool = True) -> dict | None:
        return {"name": "alice", "groups": [], "scopes": sorted(DEFAULT_ACCESS)} if token == TOKEN else None

    def check_scopes(self, required, model: dict) -> set[str]:
        return set(required) & set(model["scopes"])


AUTHENTICATOR = Authenticator(_Hub())


class StubGateway:
    """The gateway API in memory. Use as a context manager; ``url`` is its base URL."""

    def __init__(self) -> None:
        self.jobs: dict[str, dict] = {}
        self.logs: dict[str, list[str]] = {}
        self.requests: list[dict] = []
        self.failures: list[tuple[str, str, int, bytes, str]] = []
        self.heartbeat = 15.0
        self.generation = 0
        self.changed = threading.Condition()
        self.counter = 0
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args):
                pass

            def do_GET(self):
                stub._handle(self, "GET")

            def do_POST(self):
                stub._handle(self, "POST")

            def do_DELETE(self):
                stub._handle(self, "DELETE")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/services/fedspawner-gateway/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> StubGateway:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.drop_streams()
        self.server.shutdown()
        self.server.server_close()

    # --- scripting ----------------------------------------------------------------------------

    def add(self, job: dict) -> dict:
        with self.changed:
            self.jobs[job["id"]] = job
            self.logs.setdefault(job["id"], [])
            self.changed.notify_all()
        return job

    def set(self, job_id: str, **fields) -> dict:
        with self.changed:
            self.jobs[job_id] = dict(self.jobs[job_id], **fields)
            self.changed.notify_all()
            return self.jobs[job_id]

    def remove(self, job_id: str) -> None:
        """The job's objects are gone from its cluster (cancelled from another kernel, or by an admin):
        its streams end without a final line and every later request for it is a 404."""
        with self.changed:
            del self.jobs[job_id]
            self.changed.notify_all()

    def log(self, job_id: str, *lines: str) -> None:
        with self.changed:
            self.logs[job_id].extend(lines)
            self.changed.notify_all()

    def drop_streams(self) -> None:
        """Close every open watch and log stream without a final line (as a gateway restart does)."""
        with self.changed:
            self.generation += 1
            self.changed.notify_all()

    def fail_next(self, method: str, path_pattern: str, status: int, body: bytes | dict,
                  content_type: str = "application/json") -> None:
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        self.failures.append((method, path_pattern, status, data, content_type))

    def seen(self, method: str, pattern: str) -> list[dict]:
        return [r for r in self.requests if r["method"] == method and re.search(pattern, r["path"])]

    # --- serving ------------------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(handler.path)
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        length = int(handler.headers.get("Content-Length") or 0)
        body = json.loads(handler.rfile.read(length)) if length else None
        self.requests.append({"method": method, "path": parts.path, "query": query, "body": body,
                              "auth": handler.headers.get("Authorization")})
        path = parts.path.removeprefix("/services/fedspawner-gateway/api/v1")
        for failure in list(self.failures):
            if failure[0] == method and re.fullmatch(failure[1], path):
                self.failures.remove(failure)
                return self._send(handler, failure[2], failure[3], failure[4])
        try:
            asyncio.run(AUTHENTICATOR.caller(handler))
        except GatewayError as err:
            return self._error(handler, err.status, err.message)
        match = re.fullmatch(r"/jobs/([^/]+)(/watch|/logs)?", path)
        if path == "/jobs" and method == "POST":
            return self._submit(handler, body)
        if path == "/jobs" and method == "GET":
            jobs = [job for job in self.jobs.values()
                    if not query.get("state") or job["phase"].lower() == query["state"]]
            return self._json(handler, 200, {"jobs": list(reversed(jobs))})
        if path == "/clusters":
            return self._json(handler, 200, {"clusters": [{"name": "onprem", "healthy": True}]})
        if not match or match.group(1) not in self.jobs:
            return self._error(handler, 404, f"No job {match.group(1) if match else path!r}.")
        job_id, tail = match.groups()
        if tail == "/watch":
            return self._watch(handler, job_id)
        if tail == "/logs":
            return self._logs(handler, job_id, query)
        if method == "DELETE":
            with self.changed:
                job = dict(self.jobs.pop(job_id), phase="Cancelled")
                self.changed.notify_all()
            return self._json(handler, 200, {"job": job})
        return self._json(handler, 200, {"job": self.jobs[job_id]})

    def _submit(self, handler, body) -> None:
        self.counter += 1
        job_id = "j-" + f"{self.counter:08d}".translate(str.maketrans("0123456789", "abcdefghij"))
        job = make_job(job_id, name=body.get("name") or f"{body['kind']}-x", kind=body["kind"],
                       nodes=body.get("nodes", 1), cluster=body["cluster"] if isinstance(body["cluster"], str)
                       and body["cluster"] != "auto" else "onprem")
        self.add(job)
        self._json(handler, 201, {"job": job})

    def _watch(self, handler, job_id: str) -> None:
        self._start_stream(handler, "application/x-ndjson")
        generation = self.generation
        last = None
        with self.changed:
            while True:
                job = self.jobs.get(job_id)
                if job is None:
                    return
                if job != last:
                    if not self._write(handler, json.dumps({"job": job}) + "\n"):
                        return
                    last = job
                if job["phase"] in FINISHED:
                    return
                if not self.changed.wait(self.heartbeat):
                    if not self._write(handler, '{"heartbeat": true}\n'):
                        return
                if self.generation != generation:
                    return

    def _logs(self, handler, job_id: str, query: dict) -> None:
        if query.get("rank", "0") not in ("0", "1"):
            return self._error(handler, 400, f"Job {job_id} has no rank {query['rank']}.")
        self._start_stream(handler, "text/plain")
        generation = self.generation
        with self.changed:
            lines = self.logs[job_id]
            tail = int(query.get("tail") or len(lines) or 1)
            sent = max(0, len(lines) - tail)
            while True:
                lines = self.logs.get(job_id, [])
                if sent < len(lines):
                    if not self._write(handler, "".join(line + "\n" for line in lines[sent:])):
                        return
                    sent = len(lines)
                job = self.jobs.get(job_id)
                if query.get("follow") != "1" or job is None or job["phase"] in FINISHED:
                    return
                self.changed.wait(1.0)
                if self.generation != generation:
                    return

    # --- HTTP plumbing ------------------------------------------------------------------------

    @staticmethod
    def _start_stream(handler, content_type: str) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", content_type)
        handler.end_headers()
        handler.wfile.flush()

    @staticmethod
    def _write(handler, text: str) -> bool:
        try:
            handler.wfile.write(text.encode())
            handler.wfile.flush()
            return True
        except OSError:
            return False

    def _send(self, handler, status: int, data: bytes, content_type: str) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _json(self, handler, status: int, data: dict) -> None:
        self._send(handler, status, json.dumps(data).encode(), "application/json")

    def _error(self, handler, status: int, message: str) -> None:
        self._json(handler, status, {"status": status, "message": message})


def wait_until(predicate, timeout: float = 5.0, interval: float = 0.01) -> bool:
    """Poll ``predicate`` (blocking) until true or ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
