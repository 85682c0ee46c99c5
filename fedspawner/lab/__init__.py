"""The JupyterLab side of fedspawner: a Jupyter server extension that forwards the Lab side
panel's requests to the gateway (``handlers`` documents its REST API).

Enabled automatically by ``jupyter-config/jupyter_server_config.d/fedspawner.json``,
installed with the package.
"""

from __future__ import annotations


def _jupyter_server_extension_points() -> list[dict]:
    from .app import FedspawnerLabApp

    return [{"module": "fedspawner.lab", "app": FedspawnerLabApp}]
