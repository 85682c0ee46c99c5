"""The federation core: member clusters, their GPU inventory, and placement.

Imports nothing from JupyterHub; the spawner and the gateway build on it.
"""
