"""Field-by-field checks of a job spec, each failing with a message for the user.

``JobSpec.__post_init__`` calls these in turn; each returns the normalised
value or raises ``JobSpecError`` naming the field, what was wrong with it and
how to fix it.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from ..digits import whole_number
from ..federation.datasets import DATASET_RE
from .errors import JobSpecError
from .validation import ENV_NAME, human_bytes, is_dns1035_label, parse_quantity

#: Names become object names with suffixes (``-script``, ``-worker-12``) and
#: pod host names; 40 characters leaves room for all of them under 63.
MAX_NAME_LENGTH = 40
#: ConfigMaps are capped at 1 MiB of data by the API server (and etcd at about
#: 1.5 MiB per request). Scripts get 900 KiB so the other keys fedspawner adds
#: (requirements.txt, a launcher) and the object's metadata always fit.
MAX_SCRIPT_BYTES = 900 * 1024
MAX_NODES = 1000
MAX_EXECUTORS = 1000
MAX_GPUS_PER_NODE = 64
MAX_CPU_CORES = 512
MIN_MEMORY_MIB = 64
MIN_SPARK_MEMORY_MIB = 1536
MAX_ENV = 100
MAX_ENV_VALUE = 32 * 1024
MAX_PACKAGES = 100
MAX_PACKAGE_LENGTH = 200
MAX_CONF = 200
MAX_RETRIES = 10
MAX_TIMEOUT = 30 * 24 * 3600
MAX_IMAGE_LENGTH = 500
MAX_ENV_NAME_LENGTH = 128
MAX_CONF_VALUE = 4096

GPU_TYPE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
#: A GPU request written as text: ``TYPE:COUNT`` or just ``COUNT`` (ASCII digits), per node.
GPU_STRING_RE = re.compile(r"^\s*(?:([A-Za-z0-9][A-Za-z0-9._-]{0,62}):)?([0-9]+)\s*$")
#: A whole number written as text (a command line, a form): ASCII digits only, so ``²``,
#: ``1_000`` or ``٣`` (which Python's ``int`` reads) are refused as everywhere else.
COUNT_TEXT_RE = re.compile(r"^[0-9]+$")
#: A non-negative Kubernetes resource quantity, as the API server reads them (CPU per pod: ``2``,
#: ``0.5``, ``500m``; memory per pod: ``512Mi``, ``8Gi``, ``1G``, ``1e9``).
QUANTITY_RE = re.compile(r"^([0-9]+(\.[0-9]*)?|\.[0-9]+)([KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9]+)?$")

# The image reference grammar of the OCI distribution spec (github.com/distribution/reference):
# [domain[:port]/]path-component[/path-component...][:tag][@algorithm:hex-digest]. Path components
# are lower case; only the domain may hold upper case. No "..", no "/" in a tag, nothing else. (IPv6
# registry addresses, "[::1]:5000/...", are left out: name the registry by its host name.)
_IMAGE_ALNUM = r"[a-z0-9]+"
_IMAGE_PATH = rf"{_IMAGE_ALNUM}(?:(?:[._]|__|-+){_IMAGE_ALNUM})*"
_IMAGE_DOMAIN_PART = r"(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])"
_IMAGE_DOMAIN = rf"{_IMAGE_DOMAIN_PART}(?:\.{_IMAGE_DOMAIN_PART})*(?::[0-9]+)?"
_IMAGE_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_IMAGE_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9A-Fa-f]{32,}"
IMAGE_RE = re.compile(rf"^(?:{_IMAGE_DOMAIN}/)?{_IMAGE_PATH}(?:/{_IMAGE_PATH})*"
                      rf"(?::{_IMAGE_TAG})?(?:@{_IMAGE_DIGEST})?$")
#: The grammar caps the name (without tag and digest) at 255 characters.
MAX_IMAGE_NAME_LENGTH = 255

# A pip requirement as fedspawner accepts it: a PEP 508 name, optional extras, optional version
# specifiers, and nothing else. No direct URLs or paths ("name @ url", "./pkg", "git+https://"),
# no environment markers, and no pip options (a requirements file reads "-r", "-e",
# "--index-url" or a trailing "--config-settings" as options, some of which run code).
_PKG_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"
_PKG_VERSION = r"(?:===|==|!=|~=|<=|>=|<|>) *[A-Za-z0-9*][A-Za-z0-9_.*+!-]*"
PACKAGE_RE = re.compile(rf"^{_PKG_NAME} *(?:[\[] *{_PKG_NAME}(?: *, *{_PKG_NAME})* *[\]])?"
                        rf" *(?:{_PKG_VERSION}(?: *, *{_PKG_VERSION})*)?$")
CONF_KEY_RE = re.compile(r"^spark\.[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*$")

#: Environment variables fedspawner or the launchers set themselves, and those that would
#: change how Spark's JVMs start (system properties become Spark settings, past ``conf``'s rules).
RESERVED_ENV = frozenset({
    "MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "GROUP_RANK",
    "NODE_RANK", "JOB_COMPLETION_INDEX", "TF_CONFIG", "PYTHONUSERBASE", "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS",
    "JDK_JAVA_OPTIONS", "PYSPARK_SUBMIT_ARGS",
})
#: Prefixes of reserved environment variables, and whose they are.
RESERVED_ENV_PREFIXES: Mapping[str, str] = {
    "FEDSPAWNER_": "set by fedspawner itself (job id, rank, addresses)",
    "PET_": "torchrun's (rendezvous and ranks)",
    "TORCHELASTIC_": "torchrun's (rendezvous and ranks)",
    "KUBERNETES_": "Kubernetes' (how a pod finds the cluster's API server)",
    "JUPYTERHUB_": "JupyterHub's (the hub's address and credentials)",
    "JPY_": "JupyterHub's (the hub's address and credentials)",
    "SPARK_": "Spark's launch settings (addresses, directories and JVM options fedspawner sets; Spark "
              "settings go in conf)",
}

#: Spark settings a job may set: application tuning that stays inside the job's own processes.
#: Everything else is refused, above all what reaches the pods' specs through the Spark operator or
#: a driver (``spark.kubernetes.*``: secrets, volumes, service accounts, node selection, pod
#: templates, images, pod names), changes identity or where the job runs (master, deploy mode,
#: namespace), sets environment variables or JVM options, loads files from outside the image, or
#: sizes the job past ``cpu``, ``memory`` and ``executors`` (and so past the hub's limits).
SPARK_CONF_ALLOWED_KEYS = frozenset({
    "spark.default.parallelism", "spark.serializer", "spark.kryoserializer.buffer",
    "spark.kryoserializer.buffer.max", "spark.rdd.compress", "spark.broadcast.compress",
    "spark.broadcast.blockSize", "spark.checkpoint.compress", "spark.shuffle.compress",
    "spark.shuffle.spill.compress", "spark.shuffle.file.buffer", "spark.shuffle.io.maxRetries",
    "spark.shuffle.io.retryWait", "spark.reducer.maxSizeInFlight", "spark.memory.fraction",
    "spark.memory.storageFraction", "spark.task.maxFailures", "spark.task.cpus", "spark.network.timeout",
    "spark.executor.heartbeatInterval", "spark.rpc.message.maxSize", "spark.rpc.askTimeout",
    "spark.driver.maxResultSize", "spark.python.worker.memory", "spark.python.worker.reuse",
    "spark.ui.showConsoleProgress", "spark.log.level", "spark.files.maxPartitionBytes",
    "spark.files.openCostInBytes", "spark.speculation", "spark.locality.wait",
})
#: Families of settings a job may set (every key under the prefix).
SPARK_CONF_ALLOWED_PREFIXES = (
    "spark.sql.",  # the SQL engine: partitions, adaptive execution, Arrow, ANSI mode, time zone, catalogs
    "spark.kryo.",  # Kryo serialisation
    "spark.io.compression.",  # codecs
    "spark.speculation.",  # speculative execution
    "spark.locality.wait.",  # locality waits
    "spark.hadoop.fs.",  # filesystem connectors (S3A, GCS, ABFS) the script reads and writes data with
)
_SIZING = ("it sizes the job; size it with cpu, memory and executors instead (the hub's limits apply to "
           "those)")
#: Why families of refused settings are refused (the first prefix that matches).
SPARK_CONF_REFUSED: Mapping[str, str] = {
    **dict.fromkeys(("spark.executor.instances", "spark.executor.memory", "spark.executor.cores",
                     "spark.executor.memoryOverhead", "spark.executor.pyspark.memory", "spark.driver.memory",
                     "spark.driver.cores", "spark.driver.memoryOverhead", "spark.cores.max",
                     "spark.dynamicAllocation.", "spark.memory.offHeap."), _SIZING),
    **dict.fromkeys(("spark.executorEnv.", "spark.kubernetes.driverEnv.", "spark.yarn.appMasterEnv."),
                    "it sets environment variables; set them with env, whose rules apply to every pod"),
    "spark.kubernetes.": ("it shapes the job's pods on the cluster (secrets, volumes, service accounts, node "
                          "selection, pod templates, images, names), which fedspawner renders itself under "
                          "the job's identity"),
    **dict.fromkeys(("spark.master", "spark.submit.", "spark.driver.host", "spark.driver.bindAddress",
                     "spark.driver.port", "spark.blockManager.port", "spark.ui.", "spark.app.name"),
                    "fedspawner sets it to run the job on the cluster it chose"),
    **dict.fromkeys(("spark.driver.extra", "spark.executor.extra", "spark.jars", "spark.files",
                     "spark.archives", "spark.pyspark.", "spark.plugins", "spark.extraListeners",
                     "spark.driver.defaultJavaOptions", "spark.executor.defaultJavaOptions"),
                    "it changes what the JVMs load and run; put code in the image or in packages"),
}
_CONF_ALLOWED_SUMMARY = (
    "A job may set application tuning only: spark.sql.*, spark.default.parallelism, serialisation "
    "(spark.serializer, spark.kryo.*), compression (spark.io.compression.*), shuffle and memory fractions, "
    "task retries, timeouts, speculation, locality and filesystem connectors (spark.hadoop.fs.*); the whole "
    "list is the conf option's allowed_keys and allowed_prefixes in the gateway's option schema (GET "
    "options).")


def spark_conf_allowed(key: str) -> bool:
    """Whether a job may set the Spark setting ``key`` (an allow-list, not a deny-list)."""
    return key in SPARK_CONF_ALLOWED_KEYS or key.startswith(SPARK_CONF_ALLOWED_PREFIXES)


def spark_conf_refusal(key: str) -> str | None:
    """Why a job may not set ``key`` (None: it may)."""
    if spark_conf_allowed(key):
        return None
    reason = next((why for prefix, why in SPARK_CONF_REFUSED.items() if key.startswith(prefix)),
                  "it is not one of the settings a job may set")
    return f"The Spark setting {key} can't be set on a job: {reason}. {_CONF_ALLOWED_SUMMARY}"


def env_refusal(name: str) -> str | None:
    """Why a job may not set the environment variable ``name`` (None: it may)."""
    if name in RESERVED_ENV:
        return (f"The environment variable {name} is set by fedspawner or the launcher (ranks, rendezvous, "
                "package paths, JVM options); choose another name.")
    for prefix, owner in RESERVED_ENV_PREFIXES.items():
        if name.startswith(prefix):
            return (f"The environment variable {name} can't be set on a job: names starting with {prefix} "
                    f"are {owner}. Choose another name.")
    return None


def fail(field: str, message: str) -> JobSpecError:
    """The error for a bad ``field`` (kind modules raise it from their own checks)."""
    return JobSpecError(message, field=field)


_fail = fail


def _whole_number(value: Any, field: str, what: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(field, f"{field} must be a whole number ({what}), not {value!r}.")
    if not low <= value <= high:
        raise _fail(field, f"{field} must be between {low} and {high} ({what}); got {value}.")
    return value


def check_kind(kind: Any, kinds: Iterable[str], unsupported: Mapping[str, str] | None = None) -> str:
    """The kind, which must be one of ``kinds``; ``unsupported`` maps kinds that are refused to why."""
    kinds = tuple(kinds)
    if isinstance(kind, str) and kind in (unsupported or {}):
        raise _fail("kind", unsupported[kind])
    if kind not in kinds:
        close = difflib.get_close_matches(str(kind), kinds, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise _fail("kind", f"Unknown kind of job {kind!r}.{hint} Use one of: {', '.join(kinds)} "
                            "('job' runs a plain Python or bash script).")
    return kind


def check_name(name: Any) -> str:
    """A job name: an RFC 1035 label of at most 40 characters."""
    if not isinstance(name, str) or not is_dns1035_label(name, MAX_NAME_LENGTH):
        raise _fail("name", (
            f"The job name {name!r} can't be used: a name is 1 to {MAX_NAME_LENGTH} characters of "
            "lowercase letters, digits and dashes, starting with a letter and ending with a letter or "
            "digit (e.g. 'resnet-ddp-2'). Leave it out to get a generated one."))
    return name


def check_script(script: Any) -> str:
    """The script: non-empty text of at most ``MAX_SCRIPT_BYTES`` bytes of UTF-8."""
    if not isinstance(script, str) or not script.strip():
        raise _fail("script", "The job has no script: the cell body is the code the job runs, and it "
                              "is empty. Put the code to run in the cell under %%fedsubmit.")
    try:
        size = len(script.encode("utf-8"))
    except UnicodeEncodeError:
        raise _fail("script", "The script contains characters that can't be encoded as UTF-8 (lone "
                              "surrogates); remove them and submit again.") from None
    if size > MAX_SCRIPT_BYTES:
        raise _fail("script", script_too_large(size))
    return script


def script_too_large(size: int) -> str:
    """The message for a script over the ConfigMap budget."""
    return (f"The script is {human_bytes(size)} ({size:,} bytes), over the {human_bytes(MAX_SCRIPT_BYTES)} "
            "limit for code sent from a cell: it travels to the cluster in a Kubernetes ConfigMap, which "
            "holds at most 1 MiB. Put large code in the image or in a pip package (packages=[...]), and "
            "data in storage the job reads, and keep the cell to the entry point.")


def check_language(language: Any, kind: str, allowed: Iterable[str], languages: Iterable[str],
                   runs_it: Iterable[str] = ()) -> str:
    """One of ``languages`` that the kind runs (``allowed``); ``runs_it`` are kinds that run the others."""
    languages, allowed = tuple(languages), tuple(allowed)
    if language not in languages:
        raise _fail("language", f"Unknown script language {language!r}: use one of {', '.join(languages)}.")
    if language not in allowed:
        instead = " or ".join(repr(k) for k in runs_it) or "another kind"
        raise _fail("language", f"Kind {kind!r} runs {' and '.join(allowed)} scripts only; use kind {instead} "
                                f"to run a {language} script.")
    return language


def is_image_reference(image: Any) -> bool:
    """Whether ``image`` follows the OCI image reference grammar (``IMAGE_RE``), within the lengths."""
    if not isinstance(image, str) or len(image) > MAX_IMAGE_LENGTH or not IMAGE_RE.fullmatch(image):
        return False
    name = image.partition("@")[0]
    last = name.rpartition("/")[2]
    if ":" in last:
        name = name[: len(name) - len(last)] + last.partition(":")[0]
    return len(name) <= MAX_IMAGE_NAME_LENGTH


def check_image(image: Any) -> str:
    """An image reference by the OCI grammar: ``[registry[:port]/]repository[:tag][@digest]``."""
    if not is_image_reference(image):
        shown = repr(image[:120]) if isinstance(image, str) else type(image).__name__
        raise _fail("image", f"The image {shown} is not an image reference. Write it as "
                             "[registry[:port]/]repository[:tag][@sha256:digest], with lower-case repository "
                             "names, a tag of letters, digits, '_', '.' and '-' (no '/'), and nothing else "
                             "(e.g. 'pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime' or "
                             "'registry.example.org:5000/team/train:v3').")
    return image


def check_nodes(nodes: Any) -> int:
    """Nodes (pods) of the job (a kind that doesn't scale with nodes refuses more than 1 itself)."""
    return _whole_number(nodes, "nodes", "how many pods run the job", 1, MAX_NODES)


def parse_gpu_string(text: str) -> tuple[str | None, int]:
    """``"A100:4"`` → ``("A100", 4)``; ``"4"`` → ``(None, 4)`` (by ``GPU_STRING_RE``, as everywhere)."""
    match = GPU_STRING_RE.fullmatch(text)
    if match is None:
        raise _fail("gpus", f"Can't read the GPU request {text[:80]!r}: write TYPE:COUNT per node (e.g. "
                            "'A100:4', the type a canonical GPU name), or just COUNT for any GPU type "
                            "(e.g. '2'); the count is a whole number in digits 0-9.")
    return match.group(1), int(match.group(2))


def check_gpus(gpu_type: Any, count: Any) -> None:
    """A GPU request's shape: an optional type name, 0 to 64 per node."""
    _whole_number(count, "gpus", "GPUs per node", 0, MAX_GPUS_PER_NODE)
    if gpu_type is None:
        return
    if not isinstance(gpu_type, str) or not GPU_TYPE_RE.fullmatch(gpu_type):
        raise _fail("gpus", f"The GPU type {gpu_type!r} is not a GPU type name; use the canonical name the "
                            "hub lists (e.g. 'A100', 'H100-80GB'), or leave the type out for any GPU.")
    if count == 0:
        raise _fail("gpus", f"The job asks for GPU type {gpu_type!r} but 0 GPUs; ask for at least one "
                            f"(e.g. '{gpu_type}:1') or drop the GPU type.")


def number_to_quantity(value: Any) -> Any:
    """Let JSON numbers stand for CPU quantities (``2`` → ``"2"``, ``0.5`` → ``"0.5"``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    return str(value) if not isinstance(value, float) or not value.is_integer() else str(int(value))


def check_cpu(cpu: Any) -> str:
    """CPU per node as a Kubernetes quantity, from 1m to 512 cores."""
    parsed = parse_quantity(cpu) if isinstance(cpu, str) and QUANTITY_RE.fullmatch(cpu) else None
    if parsed is None:
        raise _fail("cpu", f"cpu {cpu!r} is not a CPU quantity; write cores as '2' or '0.5', or "
                           "millicores as '500m'.")
    if parsed < parse_quantity("1m"):
        raise _fail("cpu", f"cpu {cpu!r} is less than one millicore; ask for at least '100m'.")
    if parsed > MAX_CPU_CORES:
        raise _fail("cpu", f"cpu {cpu!r} is {parsed} cores per node, more than any node has; did you "
                           f"mean '{cpu}m' (millicores)?")
    return cpu


def check_memory(memory: Any, minimum: int = MIN_MEMORY_MIB, why: str = "") -> str:
    """Memory per node as a Kubernetes quantity of at least ``minimum`` MiB (``why``: the kind's reason)."""
    parsed = parse_quantity(memory) if isinstance(memory, str) and QUANTITY_RE.fullmatch(memory) else None
    if parsed is None:
        raise _fail("memory", f"memory {memory!r} is not a memory quantity; write it with a unit, e.g. "
                              "'512Mi' or '8Gi'.")
    mib = parsed / 2**20
    if mib < minimum:
        hint = f" (did you mean '{memory}Gi'?)" if whole_number(memory) is not None else ""
        need = f"{minimum}Mi{why}"
        raise _fail("memory", f"memory {memory!r} per node is too little{hint}; ask for at least {need}.")
    return memory


def check_env(env: Any) -> dict[str, str]:
    """Environment variables: portable names, string values, none fedspawner sets itself."""
    if not isinstance(env, Mapping):
        raise _fail("env", f"env must map variable names to string values, not {type(env).__name__}.")
    if len(env) > MAX_ENV:
        raise _fail("env", f"env has {len(env)} variables; at most {MAX_ENV} are allowed. Put bulk "
                           "configuration in a file the script reads.")
    for name, value in env.items():
        if not isinstance(name, str) or not ENV_NAME.fullmatch(name) or len(name) > MAX_ENV_NAME_LENGTH:
            raise _fail("env", f"{name!r} is not a usable environment variable name: use letters, digits "
                               "and underscores, not starting with a digit (e.g. 'BATCH_SIZE').")
        refusal = env_refusal(name)
        if refusal is not None:
            raise _fail("env", refusal)
        if not isinstance(value, str):
            raise _fail("env", f"The value of {name} must be a string (write {value!r} in quotes), not "
                               f"{type(value).__name__}.")
        if "\x00" in value:
            raise _fail("env", f"The value of {name} holds a NUL character, which no environment can carry; "
                               "remove it.")
        if len(value) > MAX_ENV_VALUE:
            raise _fail("env", f"The value of {name} is {len(value):,} characters; at most "
                               f"{MAX_ENV_VALUE:,} are allowed. Put large values in a file instead.")
    return dict(env)


def check_packages(packages: Any) -> tuple[str, ...]:
    """pip requirements, checked loosely: a name first, no shell metacharacters."""
    if isinstance(packages, str) or not isinstance(packages, (list, tuple)):
        raise _fail("packages", "packages must be a list of pip requirement strings, e.g. "
                                "['numpy', 'pandas>=2'].")
    if len(packages) > MAX_PACKAGES:
        raise _fail("packages", f"{len(packages)} packages is more than {MAX_PACKAGES}; build an image "
                                "with them instead.")
    for package in packages:
        problem = package_problem(package)
        if problem is not None:
            shown = repr(package[:80]) if isinstance(package, str) else type(package).__name__
            raise _fail("packages", (
                f"{shown} is not a pip requirement fedspawner accepts: {problem}. Write a package name with "
                "optional extras and version specifiers (e.g. 'torchvision', 'pandas[parquet]>=2.1', "
                "'numpy>=1.26,<2'); to install from another package index, set PIP_INDEX_URL with env."))
    return tuple(packages)


def package_problem(package: Any) -> str | None:
    """What is wrong with a pip requirement (None: nothing), for ``check_packages``' message."""
    if not isinstance(package, str):
        return "it is not a string"
    if len(package) > MAX_PACKAGE_LENGTH:
        return f"it is longer than {MAX_PACKAGE_LENGTH} characters"
    if PACKAGE_RE.fullmatch(package):
        return None
    text = package.strip()
    if text.startswith("-"):
        return "pip options (-r, -e, --index-url, ...) are not accepted"
    if ";" in text:
        return "environment markers are not accepted"
    if "://" in text or "@" in text or text.startswith((".", "~")) or "/" in text or "\\" in text:
        return ("installing from a URL or a path is not accepted; publish the package on the index or build "
                "it into the image")
    if " -" in text:
        return "pip options after a requirement (--hash, --config-settings, ...) are not accepted"
    return "it is not of the form NAME[EXTRAS] followed by version specifiers"


def check_executors(executors: Any, kind: str, applies: bool, default: int) -> int | None:
    """Spark executors (default ``default``) where they apply; None for every other kind."""
    if not applies:
        if executors is not None:
            raise _fail("executors", f"executors only apply to Spark jobs; a {kind} job scales with "
                                     "nodes.")
        return None
    if executors is None:
        return default
    return _whole_number(executors, "executors", "Spark executor pods", 1, MAX_EXECUTORS)


def check_conf(conf: Any, kind: str, applies: bool) -> dict[str, str]:
    """Spark configuration: keys on the allow-list (``spark_conf_allowed``) with one-line string values."""
    if not isinstance(conf, Mapping):
        raise _fail("conf", f"conf must map Spark settings to string values, not {type(conf).__name__}.")
    if conf and not applies:
        raise _fail("conf", f"conf holds Spark settings and only applies to Spark jobs, not to a {kind} "
                            "job; use env to configure it.")
    if len(conf) > MAX_CONF:
        raise _fail("conf", f"conf has {len(conf)} settings; at most {MAX_CONF} are allowed.")
    for key, value in conf.items():
        if not isinstance(key, str) or not CONF_KEY_RE.fullmatch(key):
            raise _fail("conf", f"{key!r} is not a Spark setting: keys start with 'spark.' and contain "
                                "letters, digits, dots, dashes and underscores (e.g. "
                                "'spark.sql.shuffle.partitions').")
        refusal = spark_conf_refusal(key)
        if refusal is not None:
            raise _fail("conf", refusal)
        if not isinstance(value, str):
            raise _fail("conf", f"The value of {key} must be a string (write {value!r} in quotes), not "
                                f"{type(value).__name__}.")
        if "\n" in value or "\r" in value or "\x00" in value or len(value) > MAX_CONF_VALUE:
            raise _fail("conf", f"The value of {key} must be a single line of at most {MAX_CONF_VALUE} characters.")
    return dict(conf)


def check_retries(retries: Any, kind: str, applies: bool) -> int:
    """Retries for failed pods where they apply (distributed kinds fail fast)."""
    retries = _whole_number(retries, "retries", "failed pods to retry", 0, MAX_RETRIES)
    if retries and not applies:
        raise _fail("retries", (
            f"retries only apply to independent pods (kind 'job'). A {kind} job fails as a whole when one of its pods "
            "fails, because a restarted rank can't rejoin a running job; resubmit it instead, or "
            "checkpoint and resume in the script."))
    return retries


def check_timeout(timeout: Any) -> int | None:
    """Seconds the job may run before it is stopped (None: no limit)."""
    if timeout is None:
        return None
    return _whole_number(timeout, "timeout", "seconds the job may run", 1, MAX_TIMEOUT)


def check_dataset(dataset: Any) -> str | None:
    """A dataset the job reads (placed by data locality), or None."""
    if dataset is None:
        return None
    if not isinstance(dataset, str) or not DATASET_RE.fullmatch(dataset):
        raise _fail("dataset", f"dataset {dataset!r} is not a dataset name: lower-case letters, digits, '-', '_' "
                               "and '.', at most 64 (the names admins declare per cluster).")
    return dataset


def spark_cores(cpu: str) -> int:
    """Whole Spark cores for a CPU quantity: rounded down, at least one."""
    parsed = parse_quantity(cpu)
    assert parsed is not None
    return max(1, math.floor(parsed))
