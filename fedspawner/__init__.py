"""fedspawner: one JupyterHub over many Kubernetes clusters.

A federated KubeSpawner places each notebook on the cluster and GPU type that fits,
and notebook cells send distributed training or Spark jobs to member clusters.
"""

__version__ = "0.1.0"


def load_ipython_extension(ipython):
    """``%load_ext fedspawner``: the job magics (see ``fedspawner.client``; ``fedspawner
    kernel-autoload enable`` loads them in every kernel of an environment)."""
    from .client.extension import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython):
    """``%unload_ext fedspawner``."""
    from .client.extension import unload_ipython_extension as unload

    unload(ipython)
