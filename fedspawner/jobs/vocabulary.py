"""The words the gateway and its clients share, defined once: job phases and job ids (pure).

The gateway answers with these phases and ids; the kernel side (client, magics, widget)
reads them. Nothing here imports anything heavier than ``re``.
"""

from __future__ import annotations

import re

__all__ = ["CANCELLED", "FAILED", "FINISHED", "ID_CHARS", "JOB_ID_RE", "JOB_STATES", "PENDING", "PHASES",
           "RUNNING", "SESSION_ID_RE", "SUCCEEDED", "is_finished", "is_job_id", "is_session_id"]

PENDING, RUNNING, SUCCEEDED, FAILED, CANCELLED = "Pending", "Running", "Succeeded", "Failed", "Cancelled"
#: Every phase of a job, in the order a job goes through them.
PHASES = (PENDING, RUNNING, SUCCEEDED, FAILED, CANCELLED)
#: Phases a job never leaves.
FINISHED = frozenset({SUCCEEDED, FAILED, CANCELLED})
#: The states a job list can be filtered by (the phases, lower case).
JOB_STATES = tuple(phase.lower() for phase in PHASES)

#: Random characters in a job id (base32 of 5 random bytes).
ID_CHARS = 8
#: A job id as the gateway hands them out: ``j-`` and 8 lowercase base32 characters.
JOB_ID_RE = re.compile(rf"^j-[a-z2-7]{{{ID_CHARS}}}$")


#: A Spark session id as the gateway hands them out: ``s-`` and 8 lowercase base32 characters.
SESSION_ID_RE = re.compile(rf"^s-[a-z2-7]{{{ID_CHARS}}}$")


def is_session_id(text: object) -> bool:
    """Whether ``text`` looks like a Spark session id (``s-`` and 8 base32 characters)."""
    return isinstance(text, str) and SESSION_ID_RE.fullmatch(text) is not None


def is_job_id(text: object) -> bool:
    """Whether ``text`` looks like a job id (``j-`` and 8 base32 characters)."""
    return isinstance(text, str) and JOB_ID_RE.fullmatch(text) is not None


def is_finished(job: dict | None) -> bool:
    """Whether a Job dict describes a job that has ended."""
    return bool(job) and job.get("phase") in FINISHED
