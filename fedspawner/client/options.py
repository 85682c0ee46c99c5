"""The body of a submission, checked in the kernel before anything is sent.

``submission_body`` takes what ``submit(...)`` and ``%%fedsubmit`` accept and
returns the JSON the gateway's ``POST /api/v1/jobs`` expects. The job fields
are validated with the same ``JobSpec`` the gateway uses, so an unknown kind, a
malformed GPU request, a negative count or a bad variable name is reported at
once, in one paragraph, and nothing is created. What only the gateway knows
(GPU types, clusters, what fits where) it checks and reports itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from .errors import GatewayError

__all__ = ["CLUSTER_AUTO", "parse_cluster", "submission_body"]

CLUSTER_AUTO = "auto"
_CLUSTER_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$")


def parse_cluster(value: str | Iterable[str] | None) -> str | list[str]:
    """``"auto"``, one cluster name, or an ordered failover list of names.

    Accepts ``None`` (auto), ``"auto"``, ``"onprem"``, ``"onprem,regional"``
    and lists of names.
    """
    if value is None:
        return CLUSTER_AUTO
    names = value.split(",") if isinstance(value, str) else list(value)
    names = [name.strip() if isinstance(name, str) else name for name in names]
    if names == [CLUSTER_AUTO]:
        return CLUSTER_AUTO
    if not names or any(not isinstance(name, str) or not _CLUSTER_NAME.match(name) for name in names):
        raise GatewayError(
            f"Can't read the cluster choice {value!r}: give 'auto' (let the hub choose), one cluster name, "
            "or several names separated by commas in the order to try them (e.g. 'onprem,regional'). "
            "Cluster names are lowercase letters, digits, dots and dashes.")
    if CLUSTER_AUTO in names:
        raise GatewayError("'auto' can't be part of a list of clusters: give either 'auto' or the names to "
                           "try in order.")
    if len(set(names)) != len(names):
        raise GatewayError(f"The cluster list {','.join(names)} names a cluster twice; name each once, in "
                           "the order to try them.")
    return names[0] if len(names) == 1 else names


def _validate(fields: Mapping[str, Any]) -> None:
    """Check the job fields with ``JobSpec`` (imported lazily: it pulls in the renderers)."""
    from fedspawner.jobs.errors import JobSpecError
    from fedspawner.jobs.spec import JobSpec

    try:
        JobSpec.from_dict(dict(fields))
    except JobSpecError as err:
        raise GatewayError(err.message) from None


def submission_body(kind: str, script: str, *, cluster: str | Iterable[str] | None = None,
                    **options: Any) -> dict[str, Any]:
    """The JSON body for ``POST /api/v1/jobs``, validated.

    ``options`` are JobSpec fields (``name``, ``image``, ``nodes``, ``gpus`` as
    ``"TYPE:N"``, ``"N"`` or ``{"type", "count"}``, ``cpu``, ``memory``, ``env``,
    ``packages``, ``executors``, ``conf``, ``language``, ``retries``,
    ``timeout``); options left as None are left out, for the gateway's
    defaults. Raises ``GatewayError`` with the reason when the job can't run.
    """
    fields = {"kind": kind, "script": script}
    fields.update({key: value for key, value in options.items() if value is not None})
    _validate(fields)
    gpus = fields.get("gpus")
    if gpus is not None:
        from fedspawner.jobs.spec import GpuRequest

        fields["gpus"] = GpuRequest.parse(gpus).to_dict()
    return {**fields, "cluster": parse_cluster(cluster)}
