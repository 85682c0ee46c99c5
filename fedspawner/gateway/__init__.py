"""The fedspawner gateway: a JupyterHub-managed service that runs jobs on member clusters.

It holds the member clusters' (namespace-scoped) credentials; users reach it with their
JupyterHub token. REST API v1 (``openapi.yaml``): submit a job spec (placed over the
whole gang, failed over while unschedulable), list a user's jobs across every cluster,
get, watch (NDJSON), logs per rank (tail, follow), cancel, and the clusters with their
GPUs. The clusters are the source of truth: every object carries owner and job-id
labels, so the gateway keeps no database.
"""
