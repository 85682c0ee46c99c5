"""fedspawner: one JupyterHub over many Kubernetes clusters.

A federated KubeSpawner places each notebook on the cluster and GPU type that fits,
and notebook cells send distributed training or Spark jobs to member clusters.
"""

__version__ = "0.1.0"
