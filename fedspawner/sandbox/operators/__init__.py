"""Kubernetes operators (JobSet, Kubeflow Trainer, Kueue, the Spark operator) run by the sandbox.

A topology lists per cluster which operators run (``operators: [jobset, trainer]``).
``sandbox.operator_catalog`` pins them (beside the topology, which reads it), ``build`` builds
them from the Go module proxy, ``manifests`` and
``config`` adapt their upstream manifests and configuration to local processes,
``install`` puts their CRDs and webhooks into the cluster, ``process`` runs them and
``lifecycle`` does all of it for a starting sandbox.
"""
