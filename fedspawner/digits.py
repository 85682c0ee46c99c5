"""Whole numbers as people and programs write them in text: ASCII digits only (pure).

``int()`` and ``str.isdigit()`` take more than that: ``'²'.isdigit()`` is true (and ``int('²')``
fails), ``int('٣')`` is 3, ``int(' 1_0 ')`` is 10. Text that reaches fedspawner from users,
admins or the system is read with ``whole_number`` instead.
"""

from __future__ import annotations

import re

__all__ = ["whole_number"]

_WHOLE = re.compile(r"[0-9]{1,18}")


def whole_number(text: object, max_digits: int = 18) -> int | None:
    """The number ``text`` spells in 1 to ``max_digits`` ASCII digits, else None (a sign, space,
    ``_``, another script's digits or a non-string)."""
    if not isinstance(text, str) or not _WHOLE.fullmatch(text) or len(text) > max_digits:
        return None
    return int(text)
