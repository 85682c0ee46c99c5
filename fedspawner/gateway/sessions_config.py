"""Settings of interactive Spark sessions (``c.Sessions.*`` in the gateway's config file)."""

from __future__ import annotations

from traitlets import Float, Integer, Unicode
from traitlets.config import Configurable


class Sessions(Configurable):
    """How the gateway runs interactive Spark Connect sessions for users."""

    default_image = Unicode("spark:4.0.1-python3", config=True, help="""
        Image of a session's pods when the request names none: a Spark image of version 3.5 or
        later whose distribution holds the Spark Connect server (Spark 4 images do), with
        Python 3. It must match c.Gateway.allowed_images when a list is set.""")
    idle_timeout = Float(3600.0, config=True, help="""
        Seconds a session may go without any traffic through its tunnel before the gateway stops
        it (0: never). Every stop deletes all of the session's objects from its cluster.""")
    detached_timeout = Float(600.0, config=True, help="""
        Seconds a session may have no tunnel connection open (its kernel stopped or was killed)
        before the gateway stops it (0: never). `%fedspark attach` within this time reconnects.""")
    tunnel_heartbeat = Float(10.0, config=True, help="""
        Seconds between two pings on each tunnel's port-forward stream through the member cluster's
        apiserver; a stream unanswered for half as long again is closed, so a query on a cluster whose
        apiserver stalls fails within seconds (and says so) instead of waiting for ever (0: no pings).""")
    check_interval = Float(15.0, config=True, help="Seconds between two checks of idle and detached sessions.")
    max_per_user = Integer(2, config=True, help="""
        Most sessions one user may hold at once; one more is refused with 403 saying so.""")
