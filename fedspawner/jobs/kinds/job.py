"""Kind ``job``: a plain Python or bash script on each of ``nodes`` independent pods.

One backend, any cluster: an Indexed Job (``FEDSPAWNER_RANK`` is the pod's index), whose
failed pods are retried ``retries`` times.
"""

from __future__ import annotations

from ..render.batch import render_plain
from .base import Backend, Kind

KIND = Kind(
    name="job",
    summary="a plain Python or bash script",
    default_image="python:3.11-slim",
    backends=(Backend("indexed-job", render_plain),),
    options=("nodes", "retries"),
    languages=("python", "bash"),
)
