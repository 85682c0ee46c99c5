"""Bring a sandbox federation up, report on it, and tear it down.

A sandbox lives in one state directory: ``sandbox.json`` (what runs where), one
directory per cluster (certificates, etcd data, logs, node-agent state) and the
federation ``kubeconfig``. The default directory is ``~/.local/state/fedspawner/sandbox``
(override with ``--state-dir`` or ``FEDSPAWNER_SANDBOX_DIR``).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import ssl
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path


from . import components, kubeconfig, multikueue, processes
from .binaries import Binaries, ensure_binaries
from .bootstrap import bootstrap_cluster
from .components import ClusterLayout
from .operators.build import ensure_operators
from .operators.lifecycle import OperatorError, start_operators
from .pki import create_cluster_pki
from .topology import PORTS_PER_CLUSTER, Topology, load_topology

STATE_FILE = "sandbox.json"
TOPOLOGY_COPY = "topology.yaml"
READY_TIMEOUT = 90.0


class SandboxError(RuntimeError):
    """Something the user can fix; the message says what happened and what to do."""


def default_state_dir() -> Path:
    env = os.environ.get("FEDSPAWNER_SANDBOX_DIR")
    if env:
        return Path(env).expanduser().resolve()
    state_home = Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state"))
    return state_home / "fedspawner" / "sandbox"


def default_topology_path() -> Path:
    from .binaries import sources_dir

    return sources_dir() / "topologies" / "default.yaml"


@dataclass(frozen=True)
class ClusterHealth:
    name: str
    server: str
    apiserver_ready: bool
    components: dict[str, bool]
    nodes_ready: int | None
    nodes_total: int | None

    @property
    def healthy(self) -> bool:
        return self.apiserver_ready and all(self.components.values())


class Sandbox:
    """One sandbox state directory and the federation it holds."""

    def __init__(self, state_dir: Path | None = None, log=print):
        self.dir = (state_dir or default_state_dir()).resolve()
        self.log = log

    # ---- state -------------------------------------------------------------
    @property
    def kubeconfig(self) -> Path:
        return self.dir / "kubeconfig"

    def read_state(self) -> dict | None:
        try:
            return json.loads((self.dir / STATE_FILE).read_text())
        except FileNotFoundError:
            return None
        except json.JSONDecodeError:
            return {"processes": [], "clusters": [], "corrupt": True}

    def _write_state(self, state: dict) -> None:
        tmp = self.dir / (STATE_FILE + ".tmp")
        tmp.write_text(json.dumps(state, indent=1))
        tmp.rename(self.dir / STATE_FILE)

    def running_processes(self, state: dict | None = None) -> list[dict]:
        state = state if state is not None else self.read_state()
        if not state:
            return []
        return [p for p in state["processes"] if processes.is_running(p["pid"], p["exe"])]

    def topology(self) -> Topology:
        state = self.read_state()
        if not state or "topology" not in state:
            raise SandboxError(f"no sandbox is running in {self.dir}; start one with `fedspawner sandbox up`")
        options = state["topology"]
        return load_topology(self.dir / TOPOLOGY_COPY, clusters=options["clusters"], base_port=options["base_port"])

    def layouts(self) -> list[ClusterLayout]:
        return components.layouts(self.topology(), self.dir)

    # ---- up ----------------------------------------------------------------
    def up(self, topology_path: Path | None = None, clusters: int | None = None,
           base_port: int | None = None) -> dict:
        """Start every cluster of the topology; returns the state written to disk."""
        topology_path = Path(topology_path or default_topology_path())
        topology = load_topology(topology_path, clusters=clusters, base_port=base_port)
        state = self.read_state()
        if state and self.running_processes(state):
            names = ", ".join(c["name"] for c in state.get("clusters", []))
            raise SandboxError(
                f"a sandbox is already running in {self.dir} (clusters: {names}). "
                "Use it as it is, stop it with `fedspawner sandbox down`, or start another one "
                "with --state-dir and --base-port.")
        if state is not None:
            self.log(f"removing a stopped sandbox's leftovers in {self.dir}")
            self._clean(state)
        self._check_ports(topology)
        bins = ensure_binaries(self.log, kwok=any(c.nodes("kwok") for c in topology.clusters))
        op_builds = ensure_operators(sorted({n for c in topology.clusters for n in c.operators}), self.log)
        started = time.monotonic()
        self.dir.mkdir(parents=True, exist_ok=True)
        # The sandbox keeps the file it was started from, so editing it later changes nothing here.
        shutil.copyfile(topology_path, self.dir / TOPOLOGY_COPY)
        state = {"topology": {"source": str(topology_path), "clusters": clusters, "base_port": base_port},
                 "processes": [], "clusters": [], "ready": False}
        self._write_state(state)
        try:
            self._start(topology, bins, state, op_builds)
        except BaseException:
            self.log("start-up failed; stopping what was started")
            self._clean(self.read_state() or state)
            raise
        self.log(f"sandbox up in {time.monotonic() - started:.1f}s: "
                 f"{', '.join(c.name for c in topology.clusters)}; kubeconfig {self.kubeconfig}")
        return state

    def _check_ports(self, topology: Topology) -> None:
        for index, cluster in enumerate(topology.clusters):
            for component, port in topology.ports(index).items():
                with socket.socket() as s:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    try:
                        s.bind((components.LOOPBACK, port))
                    except OSError:
                        raise SandboxError(
                            f"port {port} on {components.LOOPBACK} (cluster {cluster.name}, {component}) is "
                            "already in use by another process. Stop that process, or move the sandbox with "
                            "--base-port (or base_port in the topology); each cluster uses "
                            f"{PORTS_PER_CLUSTER} ports from it."
                        ) from None

    def _spawn(self, state: dict, c: ClusterLayout, component: str, argv: list[str]) -> None:
        self._record(state, processes.start(c.spec.name, component, argv, c.log(component), self.dir))

    def _record(self, state: dict, rec: processes.ProcessRecord) -> None:
        state["processes"].append(rec.to_json())
        self._write_state(state)

    def _start(self, topology: Topology, bins: Binaries, state: dict, op_builds: dict) -> None:
        cls = components.layouts(topology, self.dir)
        for c in cls:
            create_cluster_pki(c.pki.dir, c.spec.name)
            kubeconfig.write(c.admin_kubeconfig, kubeconfig.admin_kubeconfig(
                c.server, c.pki.cert("ca"), c.pki.cert("admin"), c.pki.key("admin")))
            self._spawn(state, c, "etcd", components.etcd_argv(bins, c))
            self._spawn(state, c, "kube-apiserver", components.apiserver_argv(bins, c))
        for c in cls:
            self._wait_healthy(state, c, "kube-apiserver", c.ports["apiserver"], "/readyz")
        for c in cls:
            self._spawn(state, c, "kube-controller-manager", components.controller_manager_argv(bins, c))
            self._spawn(state, c, "kube-scheduler", components.scheduler_argv(bins, c))
            if c.spec.nodes("agent"):
                c.agent_config_path.write_text(json.dumps(components.agent_config(bins, topology, c), indent=1))
                self._spawn(state, c, "node-agent", components.agent_argv(bins, c))
            if c.spec.nodes("kwok"):
                self._spawn(state, c, "kwok", components.kwok_argv(bins, c))
        tokens = asyncio.run(self._bootstrap_all(cls, topology, state))
        for c in cls:
            self._wait_healthy(state, c, "kube-scheduler", c.ports["scheduler"], "/healthz")
            self._wait_healthy(state, c, "kube-controller-manager", c.ports["controller-manager"], "/healthz")
        try:
            start_operators(cls, op_builds, self.dir, lambda rec: self._record(state, rec), self.log)
            multikueue.set_up(cls, topology.namespace, self.log)
        except (OperatorError, multikueue.MultiKueueError) as err:
            raise SandboxError(str(err)) from None
        kubeconfig.write(self.kubeconfig, kubeconfig.federation_kubeconfig([
            {"name": c.spec.name, "server": c.server, "ca": c.pki.cert("ca"), "admin_cert": c.pki.cert("admin"),
             "admin_key": c.pki.key("admin"), "tokens": token, "namespace": topology.namespace}
            for c, token in zip(cls, tokens)]))
        state["clusters"] = [{"name": c.spec.name, "display_name": c.spec.display_name, "site": c.spec.site,
                              "owner": c.spec.owner, "server": c.server, "ports": c.ports,
                              "pod_ip_prefix": c.pod_ip_prefix, "inventory_reader": c.spec.inventory_reader,
                              "operators": list(c.spec.operators)}
                             for c in cls]
        state["namespace"] = topology.namespace
        state["kubeconfig"] = str(self.kubeconfig)
        state["ready"] = True
        self._write_state(state)

    async def _bootstrap_all(self, cls: list[ClusterLayout], topology: Topology, state: dict) -> list[dict]:
        async def one(c):
            try:
                return await bootstrap_cluster(c, topology, timeout=READY_TIMEOUT)
            except TimeoutError as err:
                raise SandboxError(f"{err}.\n{self._diagnose(state, c)}") from None

        return list(await asyncio.gather(*(one(c) for c in cls)))

    def _diagnose(self, state: dict, c: ClusterLayout) -> str:
        lines = []
        for p in state["processes"]:
            if p["cluster"] == c.spec.name and not processes.is_running(p["pid"], p["exe"]):
                lines.append(f"{p['component']} exited; last lines of {p['log']}:\n{processes.log_tail(p['log'])}")
        return "\n".join(lines) or f"all processes are running; see the logs in {c.dir / 'logs'}"

    def _wait_healthy(self, state: dict, c: ClusterLayout, component: str, port: int, path: str) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        ctx = ssl.create_default_context(cafile=str(c.pki.cert("ca")))
        ctx.load_cert_chain(str(c.pki.cert("admin")), str(c.pki.key("admin")))
        if component != "kube-apiserver":  # these serve a self-signed certificate of their own
            ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        url = f"https://{components.LOOPBACK}:{port}{path}"
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(url, context=ctx, timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            rec = next(p for p in state["processes"] if p["cluster"] == c.spec.name and p["component"] == component)
            if not processes.is_running(rec["pid"], rec["exe"]):
                raise SandboxError(f"{c.spec.name}: {component} exited during start-up; last lines of "
                                   f"{rec['log']}:\n{processes.log_tail(rec['log'])}")
            time.sleep(0.1)
        raise SandboxError(f"{c.spec.name}: {component} did not become healthy within {READY_TIMEOUT:.0f}s; "
                           f"see {c.log(component)}")

    # ---- down --------------------------------------------------------------
    def down(self) -> str:
        """Stop every process of the sandbox and remove its data; says what it did."""
        state = self.read_state()
        if state is None:
            return f"no sandbox in {self.dir}: nothing to stop"
        stopped = self._clean(state)
        return f"sandbox stopped ({stopped} process(es)) and {self.dir} removed"

    def _clean(self, state: dict) -> int:
        recs = state.get("processes", [])
        # Node agents first: they stop their pods' processes themselves.
        order = {"node-agent": 0, "kwok": 1, "kube-scheduler": 2, "kube-controller-manager": 2,
                 "kube-apiserver": 3, "etcd": 4}
        stopped = 0
        for rank in sorted(set(order.values())):
            pids = [p["pid"] for p in recs if order.get(p["component"], 0) == rank
                    and processes.is_running(p["pid"], p["exe"])]
            stopped += len(processes.stop(pids))
        # Anything else that carries this sandbox's marker (pod processes, their children).
        stopped += len(processes.stop(processes.marked_processes(self.dir), timeout=3))
        shutil.rmtree(self.dir, ignore_errors=True)
        return stopped

    # ---- status ------------------------------------------------------------
    def status(self) -> list[ClusterHealth]:
        state = self.read_state()
        if not state or not state.get("clusters"):
            raise SandboxError(f"no sandbox is running in {self.dir}; start one with `fedspawner sandbox up`")
        return asyncio.run(self._status(state))

    async def _status(self, state: dict) -> list[ClusterHealth]:
        from kubernetes_asyncio import client

        from .bootstrap import admin_api_client

        out = []
        for c in self.layouts():
            procs = {p["component"]: processes.is_running(p["pid"], p["exe"])
                     for p in state["processes"] if p["cluster"] == c.spec.name}
            ready, total, api_ok = None, None, False
            if procs.get("kube-apiserver"):
                try:
                    async with admin_api_client(c) as api:
                        nodes = await client.CoreV1Api(api).list_node(_request_timeout=5)
                    api_ok, total = True, len(nodes.items)
                    ready = sum(1 for n in nodes.items if any(
                        k.type == "Ready" and k.status == "True" for k in n.status.conditions or []))
                except Exception:  # noqa: BLE001 - any failure means "not answering"
                    api_ok = False
            out.append(ClusterHealth(c.spec.name, c.server, api_ok, procs, ready, total))
        return out

    def env(self) -> str:
        if not self.kubeconfig.exists():
            raise SandboxError(f"no sandbox is running in {self.dir}; start one with `fedspawner sandbox up`")
        return f"export KUBECONFIG={self.kubeconfig}"
