"""The Lab server extension's application: its settings and routes (``c.FedspawnerLabApp.*``)."""

from __future__ import annotations

from jupyter_server.extension.application import ExtensionApp
from traitlets import Float, Unicode

from .handlers import handlers
from .upstream import Upstream


class FedspawnerLabApp(ExtensionApp):
    """Forwards the Lab side panel's requests to the fedspawner gateway with this server's token."""

    name = "fedspawner_lab"
    load_other_extensions = True

    gateway_url = Unicode("", config=True, help="""
        The fedspawner gateway's URL (e.g. https://hub.example.org/services/fedspawner-gateway/).
        Empty (the default): $FEDSPAWNER_GATEWAY_URL, else derived from the JupyterHub
        environment of a server the hub started (its proxy's /services/fedspawner-gateway/).
        The server sends its own $JUPYTERHUB_API_TOKEN; without one the panel explains how to
        configure the gateway.""")
    request_timeout = Float(30.0, config=True, help="""
        Seconds a request to the gateway may take (a long-poll: this on top of its wait).""")

    def initialize_settings(self) -> None:
        upstream = Upstream(self.gateway_url, self.request_timeout)
        self.settings["fedspawner_upstream"] = upstream
        if upstream.configured:
            self.log.info("fedspawner: forwarding to the gateway at %s", upstream.url)
        else:
            self.log.info("fedspawner: no gateway configured (%s)", upstream.problem)

    def initialize_handlers(self) -> None:
        self.handlers.extend(handlers())
