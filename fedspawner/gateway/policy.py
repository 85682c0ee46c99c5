"""What a user may ask of a member cluster: the gateway's sandbox rules.

Jobs run confined to the federation's namespace on each member cluster, as the
user's code and nothing more. Two layers keep it so:

- ``check_request`` reads the raw request before it becomes a ``JobSpec`` and refuses,
  with a message saying why, anything that tries to escape (privileged containers,
  host paths, the host's network, another namespace, Kubernetes fields fedspawner
  sets itself), and, once the spec is built, images outside the admin's allow-list
  (``check_image``) and sizes past the admin's limits (``check_limits``).
- ``check_manifests`` reads what the renderers produced, before anything is sent to a
  cluster, and refuses the same things again (a fault of fedspawner, never of the user).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from fnmatch import fnmatchcase
from typing import Any

from ..jobs import checks
from ..jobs.errors import JobSpecError
from ..jobs.limits import Limits
from ..jobs.render import spark_connect_cr
from ..jobs.spec import JobSpec
from .errors import BadRequest, Forbidden

_CONFINED = ("Jobs run confined to the namespace the federation was given on each member cluster, "
             "as your code only.")
#: Request fields that would escape the sandbox, and why each is refused.
ESCAPES: Mapping[str, str] = {
    **dict.fromkeys(("privileged", "securityContext", "capabilities", "allowPrivilegeEscalation", "runAsUser",
                     "runAsGroup", "procMount", "seccompProfile", "appArmorProfile"),
                    "Privileged containers and custom security contexts are not allowed."),
    **dict.fromkeys(("hostPath", "volumes", "volumeMounts", "hostPathVolume"),
                    "Jobs cannot mount host paths or volumes of their own; the script, packages and "
                    "scratch space are mounted for you. Read data from storage the script opens itself."),
    **dict.fromkeys(("hostNetwork", "hostPID", "hostIPC", "hostPort", "hostPorts", "hostAliases"),
                    "Jobs cannot use the host's network, ports or process namespaces."),
    **dict.fromkeys(("serviceAccount", "serviceAccountName", "automountServiceAccountToken"),
                    "Jobs run without Kubernetes API credentials; fedspawner chooses their service account."),
    **dict.fromkeys(("nodeName", "nodeSelector", "affinity", "tolerations", "priorityClassName",
                     "schedulerName", "runtimeClassName"),
                    "Where a job's pods run is decided by placement (cluster and GPU type); ask for a "
                    "cluster with 'cluster' and for GPUs with 'gpus'."),
    **dict.fromkeys(("manifest", "manifests", "podSpec", "pod", "template", "overrides", "patch"),
                    "Jobs are described by the job spec only; raw Kubernetes manifests are not accepted."),
}


def check_request(body: Mapping[str, Any]) -> None:
    """Refuse (403) a request that tries to leave the user's sandbox."""
    namespace = body.get("namespace")
    if namespace is not None:
        raise Forbidden(f"A job cannot choose its namespace (you asked for {namespace!r}). {_CONFINED} Leave "
                        "'namespace' out.")
    for key in body:
        reason = ESCAPES.get(key)
        if reason is not None:
            raise Forbidden(f"The job spec asks for {key!r}, which is not allowed. {reason} {_CONFINED}")


def check_image(image: str, allowed: Iterable[str]) -> None:
    """Refuse (403) an image outside the admin's allow-list (no list: every image is allowed).

    Only a well-formed image reference is matched against the patterns (a glob's ``*`` also
    matches ``/`` and ``..``, so ``pytorch/pytorch:*`` would otherwise let through
    ``pytorch/pytorch:x/../../evil``); anything else is refused as not an image at all.
    """
    check_reference(image)
    patterns = list(allowed)
    if patterns and not any(fnmatchcase(image, p) for p in patterns):
        raise Forbidden(f"The image {image!r} is not allowed on this hub. The administrators allow images "
                        f"matching: {', '.join(patterns)}. Leave 'image' out to use the default for the "
                        "kind, or ask them to add yours.")


def check_reference(image: str) -> None:
    """Refuse (400) a value that is not an image reference by the OCI grammar."""
    try:
        checks.check_image(image)
    except JobSpecError as err:
        raise BadRequest(err.message) from None


def check_limits(spec: JobSpec, limits: Limits) -> None:
    """Refuse (403) a job sized past the administrators' limits, saying which and how far."""
    over = limits.exceeded(spec)
    if over is not None:
        raise Forbidden(over[1])


def manifest_violations(objects: Iterable[dict], namespace: str) -> list[str]:
    """What in rendered manifests would escape the sandbox (empty when nothing does)."""
    problems: list[str] = []
    for obj in objects:
        meta = obj.get("metadata") or {}
        where = f"{obj.get('kind')}/{meta.get('name')}"
        if meta.get("namespace") != namespace:
            problems.append(f"{where}: namespace {meta.get('namespace')!r} is not {namespace!r}")
        conf = (obj.get("spec") or {}).get("sparkConf") if obj.get("kind") in _SPARK_CONF_KINDS else None
        for key in conf or ():
            if key not in _OWN_SPARK_CONF and not checks.spark_conf_allowed(key):
                problems.append(f"{where}: Spark setting {key} is not on the allow-list")
        _scan(obj, where, problems)
    return problems


#: The Spark operator's resources whose ``spec.sparkConf`` fedspawner fills.
_SPARK_CONF_KINDS = ("SparkApplication", "SparkConnect")
#: Spark settings fedspawner's renderers set themselves.
_OWN_SPARK_CONF = frozenset({"spark.ui.port"}) | spark_connect_cr.OWN_CONF


_TRUE_FORBIDDEN = ("privileged", "allowPrivilegeEscalation", "hostNetwork", "hostPID", "hostIPC")
_PRESENT_FORBIDDEN = ("hostPath", "hostPort")


def _scan(value: Any, where: str, problems: list[str]) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            if key in _TRUE_FORBIDDEN and item is True:
                problems.append(f"{where}: {key} is true")
            elif key in _PRESENT_FORBIDDEN:
                problems.append(f"{where}: uses {key}")
            else:
                _scan(item, where, problems)
    elif isinstance(value, list):
        for item in value:
            _scan(item, where, problems)
