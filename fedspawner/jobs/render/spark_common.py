"""Sizing and naming shared by the two Spark renderers."""

from __future__ import annotations

import re

from ..validation import mebibytes

SPARK_UI_PORT = 4040
DEFAULT_SPARK_VERSION = "3.5.3"
_VERSION = re.compile(r"(\d+\.\d+\.\d+)")


def spark_version(image: str) -> str:
    """The Spark version an image's tag names (``spark:3.5.3-python3`` → ``3.5.3``).

    Falls back to ``DEFAULT_SPARK_VERSION`` for tags that name none.
    """
    tag = image.rsplit("/", 1)[-1].partition("@")[0].partition(":")[2]
    match = _VERSION.search(tag)
    return match.group(1) if match else DEFAULT_SPARK_VERSION


def heap_mib(memory: str, fraction: float = 0.6, reserved_mib: int = 0) -> int:
    """JVM heap (MiB) that fits a pod's memory quantity.

    A Spark JVM needs memory beyond its heap (metaspace, buffers, threads) and
    PySpark runs Python workers next to it, so the heap gets ``fraction`` of
    what is left after ``reserved_mib``; never less than 256 MiB.
    """
    return max(256, int((mebibytes(memory) - reserved_mib) * fraction))
