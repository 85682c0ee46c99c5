"""The demo: a real JupyterHub with FederatedKubeSpawner over the sandbox federation."""
