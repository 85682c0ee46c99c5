"""The gateway process: ``python -m fedspawner.gateway --config FILE`` (or ``fedspawner gateway``).

The config file is a traitlets Python file with ``c.Federation.*`` (the member clusters,
as in the hub's config) and ``c.Gateway.*``. JupyterHub starts the process as a managed
service and passes its URL, prefix and API token in the environment; ``HubAuth`` reads
them to resolve callers' tokens.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
from pathlib import Path

from jupyterhub.services.auth import HubAuth
from traitlets import TraitError, Unicode
from traitlets.config import Application

from ..federation.config import Federation, FederationConfigError
from ..federation.registry import ClusterRegistry
from .auth import Authenticator
from .config import Gateway
from .handlers import make_app
from .service import GatewayService
from .sessions import SessionService
from .sessions_config import Sessions
from .sessions_handlers import add_session_routes


#: The HTTP server's own cut-off for bodies, which closes the connection without an answer (a proxy
#: in front then answers 502/503 with its HTML page): never reached, as the handlers refuse a body
#: over ``c.Gateway.max_body_bytes`` themselves with a JSON 413 before reading it.
NO_BODY_CUT_OFF = 2**62


class GatewayApp(Application):
    """Serve the fedspawner REST API v1 for the member clusters of a federation."""

    name = "fedspawner-gateway"
    description = __doc__
    config_file = Unicode("", config=True, help="The config file to load (c.Federation.*, c.Gateway.*).")
    aliases = {"config": "GatewayApp.config_file", "log-level": "Application.log_level"}
    classes = [Federation, Gateway, Sessions, HubAuth]

    def initialize(self, argv=None) -> None:
        super().initialize(argv)
        if self.config_file:
            path = Path(self.config_file)
            if not path.is_file():
                self.exit(f"fedspawner gateway: no config file at {path}")
            self.load_config_file(path.name, path=str(path.parent))
        if not logging.getLogger().handlers:
            logging.basicConfig(format="[%(levelname).1s %(asctime)s %(name)s] %(message)s")
        for name in ("fedspawner", "tornado.access"):
            logging.getLogger(name).setLevel(self.log_level)

    async def serve(self) -> None:
        settings = Gateway(config=self.config)
        registry = ClusterRegistry(Federation(config=self.config))
        await registry.start()
        await registry.wait_ready(10)
        service = GatewayService(registry, settings, Authenticator(HubAuth(config=self.config)))
        service.start()
        quieter_garbage_collection()
        app = make_app(service, settings.base_url)
        sessions = SessionService(service, Sessions(config=self.config))
        sessions.start()
        add_session_routes(app, service, sessions, settings.base_url)
        server = app.listen(settings.listen_port(), address=settings.ip,
                            max_body_size=NO_BODY_CUT_OFF, xheaders=True)
        if settings.pid_file:
            Path(settings.pid_file).write_text(str(os.getpid()))
        self.log.info("fedspawner gateway on http://%s:%d%s for clusters %s", settings.ip,
                      settings.listen_port(), settings.base_url, ", ".join(registry.members))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            server.stop()
            await sessions.close()
            await service.stop()
            await registry.stop()
            if settings.pid_file:
                Path(settings.pid_file).unlink(missing_ok=True)

    def start(self) -> None:
        asyncio.run(self.serve())


def quieter_garbage_collection() -> None:
    """Collect garbage less often: a list of 1,000 jobs allocates ~100,000 short-lived objects, and
    with the default thresholds each list would set off several full collections over the jobs
    index. What exists at start-up (modules, configuration) is never scanned again."""
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``python -m fedspawner.gateway``."""
    app = GatewayApp.instance()
    app.initialize(argv)
    try:
        app.start()
    except (FederationConfigError, TraitError) as err:  # TraitError: a c.Gateway setting it can't use
        app.exit(f"fedspawner gateway: {err}")
