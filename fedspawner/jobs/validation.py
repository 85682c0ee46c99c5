"""Small, pure checks shared by the job model and the renderers.

Everything here follows the Kubernetes validation rules closely enough that a
value accepted here is accepted by the API server: DNS labels, label keys and
values, resource quantities, environment variable names. Nothing here raises;
each check returns a bool or a parsed value, and the callers phrase the error
for the person who caused it.
"""

from __future__ import annotations

import hashlib
import re
from decimal import Decimal

from ..federation.quantity import QuantityError
from ..federation.quantity import parse_quantity as _federation_quantity

#: RFC 1035 label: what Services, TrainJobs and SparkApplications require of a
#: name (a letter first, then lowercase letters, digits and dashes).
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
#: RFC 1123 label: what namespaces and most other names require.
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
#: RFC 1123 subdomain: service account names, label key prefixes.
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
#: POSIX-portable environment variable names (stricter than Kubernetes, which
#: since 1.30 accepts most printable characters; shells and Python tools don't).
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

MAX_LABEL_VALUE = 63


def is_dns1035_label(value: str, max_length: int = 63) -> bool:
    """True when ``value`` is an RFC 1035 label no longer than ``max_length``."""
    return isinstance(value, str) and 0 < len(value) <= max_length and bool(DNS1035_LABEL.fullmatch(value))


def is_dns1123_label(value: str, max_length: int = 63) -> bool:
    """True when ``value`` is an RFC 1123 label no longer than ``max_length``."""
    return isinstance(value, str) and 0 < len(value) <= max_length and bool(DNS1123_LABEL.fullmatch(value))


def is_dns1123_subdomain(value: str) -> bool:
    """True when ``value`` is an RFC 1123 subdomain (at most 253 characters)."""
    return isinstance(value, str) and 0 < len(value) <= 253 and bool(DNS1123_SUBDOMAIN.fullmatch(value))


def is_label_value(value: str) -> bool:
    """True when ``value`` is a valid Kubernetes label value (the empty string is valid)."""
    return isinstance(value, str) and len(value) <= MAX_LABEL_VALUE and bool(_LABEL_VALUE.fullmatch(value))


def is_label_key(key: str) -> bool:
    """True when ``key`` is a valid label or annotation key: ``[prefix/]name``."""
    if not isinstance(key, str) or not key:
        return False
    prefix, _, name = key.rpartition("/")
    if "/" in key and not is_dns1123_subdomain(prefix):
        return False
    return len(name) <= 63 and bool(_LABEL_NAME.fullmatch(name))


def parse_quantity(value: str) -> Decimal | None:
    """Parse a Kubernetes resource quantity (``"500m"``, ``"4Gi"``, ``"1500u"``, ``"1e3"``).

    Returns the value in base units (cores, bytes) as a ``Decimal``, or None when
    ``value`` is not a string holding a well-formed, non-negative quantity. The
    parsing is the federation core's (``federation.quantity``), so a job spec and
    placement always read the same number.
    """
    if not isinstance(value, str) or value != value.strip():
        return None
    try:
        number = _federation_quantity(value)
    except (QuantityError, ArithmeticError):  # ArithmeticError: Decimal's InvalidOperation ("1.2.3")
        return None
    return number if number >= 0 else None


def mebibytes(value: str) -> int:
    """Whole MiB in a memory quantity (rounded down); the quantity must be valid."""
    parsed = parse_quantity(value)
    if parsed is None:
        raise ValueError(f"not a quantity: {value!r}")
    return int(parsed // (2**20))


def owner_label_value(owner: str) -> str:
    """Make a JupyterHub user name usable as a label value.

    Lowercases, replaces every character a label value can't hold with ``-``
    and trims to 63 characters. When that changed the name at all, a short hash
    of the exact name is appended so two users whose names differ only in
    replaced characters (``a@b`` and ``a-b``, ``Alice`` and ``alice``) never
    share a label. The exact name always travels in an annotation as well;
    authorisation should compare that, and use the label only to select.
    """
    cleaned = re.sub(r"[^a-z0-9._-]", "-", owner.lower()).strip("-._")
    if cleaned == owner and len(cleaned) <= MAX_LABEL_VALUE:
        return cleaned
    digest = hashlib.sha256(owner.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    head = cleaned[: MAX_LABEL_VALUE - len(digest) - 1].rstrip("-._")
    return f"{head}-{digest}" if head else f"u-{digest}"


def human_bytes(size: int) -> str:
    """``921600`` → ``"900 KiB"``; ``1258291`` → ``"1.2 MiB"``."""
    for unit, factor in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size >= factor:
            amount = size / factor
            text = f"{amount:.1f}".rstrip("0").rstrip(".")
            return f"{text} {unit}"
    return f"{size} bytes"
