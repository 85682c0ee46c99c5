"""Kubernetes resource quantities as numbers (CPU in millicores, the rest in units)."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from ..errors import UserError

_SUFFIX = {
    "": 1, "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("0.001"),
    "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
}
_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(n|u|m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")


class QuantityError(UserError, ValueError):
    """Not a Kubernetes quantity."""


def parse_quantity(value: object) -> Decimal:
    """``"500m"`` -> 0.5, ``"64Gi"`` -> 68719476736, ``"1500u"`` -> 0.0015, ``4`` -> 4."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return Decimal(str(value))
    match = _QUANTITY.match(str(value).strip())
    if not match:
        raise QuantityError(f"{value!r} is not a Kubernetes quantity (examples: 2, 500m, 16Gi)")
    number, suffix = match.groups()
    try:
        return Decimal(number) * Decimal(_SUFFIX[suffix or ""])
    except InvalidOperation:  # "1.2.3", "."
        raise QuantityError(f"{value!r} is not a Kubernetes quantity (examples: 2, 500m, 16Gi)") from None


def cpu_millis(value: object) -> int:
    """CPU in whole millicores, rounded up (as the scheduler counts it)."""
    millis = parse_quantity(value) * 1000
    return int(millis) if millis == int(millis) else int(millis) + 1


def units(value: object) -> int:
    """Memory bytes, GPU counts: whole units, rounded up."""
    q = parse_quantity(value)
    return int(q) if q == int(q) else int(q) + 1
