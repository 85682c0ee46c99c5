"""Sandbox topology: which clusters to run, their nodes, GPUs, quotas and ports.

A topology is a YAML file users copy and edit (see ``sandbox/topologies/default.yaml``).
Loading validates every field and reports the first problem with its location, e.g.
``clusters[1].node_groups[0].count: must be a positive integer, got 'two'``.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from ..errors import UserError
from ..federation.quantity import QuantityError, parse_quantity
from .operator_catalog import OPERATORS, operator_ports

NAME_RE = re.compile(r"^[a-z]([-a-z0-9]{0,30}[a-z0-9])?$")
RUNTIMES = ("agent", "kwok")
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
PORTS_PER_CLUSTER = 20  # 6 for the control plane and node agent, the rest for operators
MAX_AGENT_NODES = 200


class TopologyError(UserError, ValueError):
    """A topology file that cannot be used; the message says where and why."""


@dataclass(frozen=True)
class Taint:
    key: str
    value: str
    effect: str


@dataclass(frozen=True)
class NodeGroup:
    """``count`` identical nodes named ``<name>-<i>``."""

    name: str
    count: int
    runtime: str
    cpu: str
    memory: str
    pods: int
    labels: dict[str, str]
    taints: tuple[Taint, ...]
    resources: dict[str, str]

    def node_names(self) -> list[str]:
        return [f"{self.name}-{i}" for i in range(self.count)]

    def capacity(self) -> dict[str, str]:
        return {"cpu": self.cpu, "memory": self.memory, "pods": str(self.pods), **self.resources}


@dataclass(frozen=True)
class MultiKueueSpec:
    """A MultiKueue manager's set-up: its worker clusters, the queue it dispatches, how long it
    keeps a workload on a worker it lost contact with (Kueue's ``workerLostTimeout``)."""

    workers: tuple[str, ...]
    queue: str = "multikueue"
    worker_lost_timeout: str = "15m"


@dataclass(frozen=True)
class ClusterSpec:
    name: str
    display_name: str
    site: str
    owner: str
    node_groups: tuple[NodeGroup, ...]
    quota: dict[str, str]
    inventory_reader: bool = False  # grant a read-only, cluster-wide node/pod watcher credential
    operators: tuple[str, ...] = ()  # operators run beside the control plane (see sandbox.operators)
    multikueue: MultiKueueSpec | None = None  # this cluster dispatches its queue to workers (sandbox.multikueue)

    def nodes(self, runtime: str) -> list[tuple[str, NodeGroup]]:
        return [(n, g) for g in self.node_groups if g.runtime == runtime for n in g.node_names()]


@dataclass(frozen=True)
class Environment:
    """Container images matching ``image`` (a glob) run from the Python prefix ``python``:
    a path, ``default`` (fedspawner's own environment), ``workload`` (the cached
    PyTorch + PySpark environment, see ``fedspawner.sandbox.workload``), ``jax`` (the
    cached JAX CPU environment, same module) or ``chp`` (the
    cached configurable-http-proxy from npm, see ``fedspawner.sandbox.chp``)."""

    image: str
    python: str

    def bin_dir(self) -> str:
        if self.python == "chp":
            from .chp import chp_bin_dir

            return str(chp_bin_dir())
        if self.python == "default":
            prefix = sys.prefix
        elif self.python == "workload":
            from .workload import workload_env_dir

            prefix = str(workload_env_dir())
        elif self.python == "jax":
            from .workload import jax_env_dir

            prefix = str(jax_env_dir())
        else:
            prefix = self.python
        return str(Path(prefix).expanduser() / "bin")


@dataclass(frozen=True)
class Topology:
    clusters: tuple[ClusterSpec, ...]
    namespace: str
    extra_namespaces: tuple[str, ...]
    base_port: int
    environments: tuple[Environment, ...] = field(default=())
    source: str = "<memory>"

    def cluster(self, name: str) -> ClusterSpec:
        for c in self.clusters:
            if c.name == name:
                return c
        raise KeyError(name)

    def ports(self, index: int) -> dict[str, int]:
        """Loopback ports of the index-th cluster's components."""
        base = self.base_port + PORTS_PER_CLUSTER * index
        names = ("apiserver", "etcd", "etcd-peer", "scheduler", "controller-manager", "agent")
        return {**{name: base + i for i, name in enumerate(names)},
                **operator_ports(self.clusters[index].operators, base)}


def load_topology(path: str | Path, clusters: int | None = None, base_port: int | None = None) -> Topology:
    """Read and validate a topology file; ``clusters`` keeps only the first N clusters."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise TopologyError(f"topology file {path} does not exist") from None
    except yaml.YAMLError as err:
        raise TopologyError(f"topology file {path} is not valid YAML: {err}") from None
    topo = parse_topology(raw, source=str(path))
    if clusters is not None:
        if not 1 <= clusters <= len(topo.clusters):
            raise TopologyError(
                f"--clusters {clusters}: {path} defines {len(topo.clusters)} cluster(s); "
                f"choose 1 to {len(topo.clusters)} or add clusters to the file"
            )
        topo = replace(topo, clusters=topo.clusters[:clusters])
    if base_port is not None:
        topo = replace(topo, base_port=_port(base_port, "--base-port", len(topo.clusters)))
    return topo


def parse_topology(raw: object, source: str = "<memory>") -> Topology:
    """Validate a topology already parsed from YAML."""
    doc = _mapping(raw, source)
    _known(doc, source, {"clusters", "namespace", "extra_namespaces", "base_port", "environments"})
    namespace = _name(doc.get("namespace", "fedspawner"), f"{source}: namespace")
    extra = tuple(_name(n, f"{source}: extra_namespaces[{i}]")
                  for i, n in enumerate(_list(doc.get("extra_namespaces", []), f"{source}: extra_namespaces")))
    raw_clusters = _list(doc.get("clusters"), f"{source}: clusters")
    if not raw_clusters:
        raise TopologyError(f"{source}: clusters: list at least one cluster")
    clusters = tuple(_cluster(c, f"{source}: clusters[{i}]") for i, c in enumerate(raw_clusters))
    names = [c.name for c in clusters]
    for n in names:
        if names.count(n) > 1:
            raise TopologyError(f"{source}: clusters: the name {n!r} is used twice; cluster names must be unique")
    envs = tuple(_environment(e, f"{source}: environments[{i}]")
                 for i, e in enumerate(_list(doc.get("environments", [{"image": "*", "python": "default"}]),
                                             f"{source}: environments")))
    for i, c in enumerate(clusters):
        if c.multikueue:
            _check_workers(c, clusters, f"{source}: clusters[{i}].multikueue.workers")
    base_port = _port(doc.get("base_port", 16400), f"{source}: base_port", len(clusters))
    return Topology(clusters=clusters, namespace=namespace, extra_namespaces=extra,
                    base_port=base_port, environments=envs, source=source)


def _cluster(raw: object, where: str) -> ClusterSpec:
    doc = _mapping(raw, where)
    _known(doc, where, {"name", "display_name", "site", "owner", "node_groups", "quota", "inventory_reader",
                        "operators", "multikueue"})
    name = _name(doc.get("name"), f"{where}.name")
    groups = tuple(_group(g, f"{where}.node_groups[{i}]")
                   for i, g in enumerate(_list(doc.get("node_groups"), f"{where}.node_groups")))
    if not groups:
        raise TopologyError(f"{where}.node_groups: a cluster needs at least one node group")
    agent_nodes = sum(g.count for g in groups if g.runtime == "agent")
    if agent_nodes > MAX_AGENT_NODES:
        raise TopologyError(f"{where}: {agent_nodes} agent nodes; at most {MAX_AGENT_NODES} — "
                            "use runtime: kwok for large simulated node counts")
    group_names = [g.name for g in groups]
    for g in group_names:
        if group_names.count(g) > 1:
            raise TopologyError(f"{where}.node_groups: the name {g!r} is used twice")
    return ClusterSpec(
        name=name,
        display_name=str(doc.get("display_name", name)),
        site=str(doc.get("site", "")),
        owner=str(doc.get("owner", "")),
        node_groups=groups,
        quota=_quantities(doc.get("quota", {}), f"{where}.quota"),
        inventory_reader=_bool(doc.get("inventory_reader", False), f"{where}.inventory_reader"),
        operators=_operators(doc.get("operators", []), f"{where}.operators"),
        multikueue=_multikueue(doc.get("multikueue"), f"{where}.multikueue"),
    )


def _multikueue(raw: object, where: str) -> MultiKueueSpec | None:
    if raw is None:
        return None
    doc = _mapping(raw, where)
    _known(doc, where, {"workers", "queue", "worker_lost_timeout"})
    listed = _list(doc.get("workers"), f"{where}.workers")
    workers = tuple(_name(w, f"{where}.workers[{i}]") for i, w in enumerate(listed))
    if not workers:
        raise TopologyError(f"{where}.workers: name at least one worker cluster")
    timeout = str(doc.get("worker_lost_timeout", "15m"))
    if not re.fullmatch(r"(\d+(\.\d+)?(h|m|s|ms))+", timeout):
        raise TopologyError(f"{where}.worker_lost_timeout: {timeout!r} is not a duration (examples: 15m, 30s, 1h)")
    return MultiKueueSpec(workers=workers, queue=_name(doc.get("queue", "multikueue"), f"{where}.queue"),
                          worker_lost_timeout=timeout)


def _check_workers(manager: ClusterSpec, clusters: tuple[ClusterSpec, ...], where: str) -> None:
    """A MultiKueue manager and its workers run Kueue; workers serve the manager's integrated kinds."""
    if "kueue" not in manager.operators:
        raise TopologyError(f"{where}: a MultiKueue manager runs Kueue; add kueue to {manager.name}'s operators")
    by_name = {c.name: c for c in clusters}
    needed = ["kueue", *(n for n in manager.operators if n in ("jobset", "trainer"))]
    for i, name in enumerate(manager.multikueue.workers):
        if name == manager.name or name not in by_name:
            raise TopologyError(f"{where}[{i}]: {name!r} is not another cluster of this topology")
        missing = [n for n in needed if n not in by_name[name].operators]
        if missing:
            raise TopologyError(f"{where}[{i}]: the worker {name} needs {', '.join(missing)} in its operators "
                                f"(Kueue, and the CRDs of every kind {manager.name} dispatches)")


def _operators(raw: object, where: str) -> tuple[str, ...]:
    names = _list(raw, where)
    for i, name in enumerate(names):
        if name not in OPERATORS:
            raise TopologyError(f"{where}[{i}]: unknown operator {name!r}; choose from {', '.join(OPERATORS)}")
        if names.count(name) > 1:
            raise TopologyError(f"{where}: {name!r} is listed twice")
    for name in names:
        missing = [dep for dep in OPERATORS[name].requires if dep not in names]
        if missing:
            raise TopologyError(f"{where}: {name} needs {' and '.join(missing)} on the same cluster; "
                                "add it to the list")
    return tuple(names)


def _group(raw: object, where: str) -> NodeGroup:
    doc = _mapping(raw, where)
    _known(doc, where, {"name", "count", "runtime", "cpu", "memory", "pods", "labels", "taints", "resources"})
    count = doc.get("count", 1)
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise TopologyError(f"{where}.count: must be a positive integer, got {count!r}")
    runtime = doc.get("runtime", "agent")
    if runtime not in RUNTIMES:
        raise TopologyError(f"{where}.runtime: must be one of {', '.join(RUNTIMES)}, got {runtime!r}")
    pods = doc.get("pods", 110)
    if not isinstance(pods, int) or pods < 1:
        raise TopologyError(f"{where}.pods: must be a positive integer, got {pods!r}")
    labels = _mapping(doc.get("labels", {}), f"{where}.labels")
    taints = []
    for i, t in enumerate(_list(doc.get("taints", []), f"{where}.taints")):
        t = _mapping(t, f"{where}.taints[{i}]")
        effect = t.get("effect")
        if effect not in TAINT_EFFECTS:
            raise TopologyError(f"{where}.taints[{i}].effect: must be one of {', '.join(TAINT_EFFECTS)}, "
                                f"got {effect!r}")
        if not t.get("key"):
            raise TopologyError(f"{where}.taints[{i}].key: required")
        taints.append(Taint(str(t["key"]), str(t.get("value", "")), effect))
    return NodeGroup(
        name=_name(doc.get("name"), f"{where}.name"),
        count=count,
        runtime=runtime,
        cpu=_quantity(doc.get("cpu", "8"), f"{where}.cpu"),
        memory=_quantity(doc.get("memory", "32Gi"), f"{where}.memory"),
        pods=pods,
        labels={str(k): str(v) for k, v in labels.items()},
        taints=tuple(taints),
        resources=_quantities(doc.get("resources", {}), f"{where}.resources"),
    )


def _environment(raw: object, where: str) -> Environment:
    doc = _mapping(raw, where)
    _known(doc, where, {"image", "python"})
    image, python = doc.get("image"), doc.get("python", "default")
    if not isinstance(image, str) or not image:
        raise TopologyError(f"{where}.image: give an image name or glob such as 'pytorch/*' or '*'")
    return Environment(image=image, python=str(python))


def _quantity(value: object, where: str) -> str:
    """A non-negative quantity as the topology wrote it, read by the federation's own parser."""
    text = str(value)
    try:
        ok = not isinstance(value, bool) and text == text.strip() and parse_quantity(text) >= 0
    except QuantityError:
        ok = False
    if not ok:
        raise TopologyError(f"{where}: {value!r} is not a Kubernetes quantity (examples: 4, 500m, 64Gi)")
    return text


def _quantities(raw: object, where: str) -> dict[str, str]:
    doc = _mapping(raw, where)
    return {str(k): _quantity(v, f"{where}.{k}") for k, v in doc.items()}


def _port(value: object, where: str, clusters: int) -> int:
    last = 65535 - PORTS_PER_CLUSTER * clusters
    if not isinstance(value, int) or isinstance(value, bool) or not 1024 <= value <= last:
        raise TopologyError(f"{where}: must be a port number from 1024 to {last}, got {value!r}")
    return value


def _bool(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise TopologyError(f"{where}: must be true or false, got {value!r}")
    return value


def _name(value: object, where: str) -> str:
    if not isinstance(value, str) or not NAME_RE.match(value):
        raise TopologyError(
            f"{where}: {value!r} is not a valid name; use lower-case letters, digits and '-', "
            "starting with a letter (at most 32 characters)"
        )
    return value


def _mapping(value: object, where: str) -> dict:
    if not isinstance(value, dict):
        raise TopologyError(f"{where}: expected a mapping (key: value), got {type(value).__name__}")
    return value


def _list(value: object, where: str) -> list:
    if not isinstance(value, list):
        raise TopologyError(f"{where}: expected a list, got {type(value).__name__}")
    return value


def _known(doc: dict, where: str, allowed: set[str]) -> None:
    unknown = sorted(set(map(str, doc)) - allowed)
    if unknown:
        raise TopologyError(f"{where}: unknown field {unknown[0]!r}; known fields: {', '.join(sorted(allowed))}")
