"""The federated spawner: a KubeSpawner that places each server on a member cluster."""
