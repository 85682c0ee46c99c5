"""Names the federation's configuration and every job share: the grammar of a member cluster's
name and the words no cluster may be called. A leaf module, so that the kernel side (which
checks names before sending them) need not load the hub's configuration code."""

from __future__ import annotations

import re

#: A member cluster's name: a DNS label of at most 40 characters.
NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$")
#: Words that mean something else where a cluster name is expected (``--cluster auto``).
RESERVED_NAMES = ("auto",)
