"""The body of a submission, checked in the kernel before anything is sent.

``submission_body`` takes what ``submit(...)`` and ``%%fedsubmit`` accept and
returns the JSON the gateway's ``POST /api/v1/jobs`` expects. The job fields
are validated with the same ``JobSpec`` the gateway uses, and the ``cluster``
field with the gateway's own ``parse_cluster_field``, so an unknown kind, a
malformed GPU request, a negative count, a bad variable name or a malformed
cluster list is reported at once, in one paragraph, and nothing is created.
What only the gateway knows (GPU types, which clusters exist, what fits where)
it checks and reports itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .errors import GatewayRequestError

__all__ = ["submission_body"]


def _cluster(value: str | Iterable[str] | None) -> str | list[str]:
    """The ``cluster`` field as sent: ``"auto"``, one name, or the names to try in order."""
    from fedspawner.jobs.errors import JobSpecError
    from fedspawner.jobs.fields import AUTO, parse_cluster_field

    if isinstance(value, Iterable) and not isinstance(value, (str, list, tuple)):
        value = list(value)  # any iterable of names, e.g. a generator
    try:
        names = parse_cluster_field(value)
    except JobSpecError as err:
        raise GatewayRequestError(err.message) from None
    if names is None:
        return AUTO
    return names[0] if len(names) == 1 else names


def submission_body(kind: str, script: str, *, cluster: str | Iterable[str] | None = None,
                    **options: Any) -> dict[str, Any]:
    """The JSON body for ``POST /api/v1/jobs``, validated.

    ``options`` are JobSpec fields (``name``, ``image``, ``nodes``, ``gpus`` as
    ``"TYPE:N"``, ``"N"`` or ``{"type", "count"}``, ``cpu``, ``memory``, ``env``,
    ``packages``, ``executors``, ``conf``, ``language``, ``retries``,
    ``timeout``); options left as None are left out, for the gateway's
    defaults. Raises ``GatewayRequestError`` with the reason when the job can't run.
    """
    from fedspawner.jobs.errors import JobSpecError
    from fedspawner.jobs.spec import JobSpec  # imported lazily: it pulls in the renderers

    fields = {"kind": kind, "script": script}
    fields.update({key: value for key, value in options.items() if value is not None})
    try:
        spec = JobSpec.from_dict(fields)
    except JobSpecError as err:
        raise GatewayRequestError(err.message) from None
    if "gpus" in fields:
        fields["gpus"] = spec.gpus.to_dict()  # as the spec read it ("a100:2" -> {"type", "count"})
    return {**fields, "cluster": _cluster(cluster)}
