"""JupyterHub configuration for the demo (and the tests) over a running sandbox."""

from __future__ import annotations

from pathlib import Path

DEMO_PASSWORD = "fedspawner"
DEMO_GROUPS = {"gpu-users": ["alice", "bob"], "cloud-users": ["alice"]}

# A KubeSpawner profile_list with fedspawner's extensions (clusters, gpu, allowed_groups).
DEMO_PROFILES = [
    {"display_name": "Python (CPU)", "slug": "cpu", "default": True,
     "description": "A JupyterLab server; pick a GPU below if you need one.",
     "kubespawner_override": {"cpu_guarantee": 0.5, "mem_guarantee": "1G"}},
    {"display_name": "PyTorch on one A100", "slug": "a100",
     "description": "One NVIDIA A100 40GB, on-prem only.",
     "gpu": {"type": "nvidia-a100-40gb", "count": 1}, "clusters": {"allowed": ["onprem"]},
     "allowed_groups": ["gpu-users"], "kubespawner_override": {"cpu_guarantee": 1, "mem_guarantee": "2G"}},
    {"display_name": "Big GPU (cloud burst)", "slug": "h100",
     "description": "An H100 80GB in the cloud burst cluster.",
     "gpu": {"type": "nvidia-h100-80gb", "count": 1}, "clusters": {"allowed": ["burst"]},
     "allowed_groups": ["cloud-users"]},
]


def configure(c, *, sandbox_dir: Path, state_dir: Path, chp: Path, port: int = 8000, hub_port: int = 8081,
              proxy_api_port: int = 8001, profiles: list | None = None) -> None:
    """Fill a traitlets Config ``c`` for a hub on 127.0.0.1 over the sandbox in ``sandbox_dir``."""
    from fedspawner.hub import availability_handlers
    from fedspawner.sandbox.federation import member_clusters

    state_dir.mkdir(parents=True, exist_ok=True)
    c.JupyterHub.ip = "127.0.0.1"
    c.JupyterHub.port = port
    c.JupyterHub.hub_ip = "127.0.0.1"
    c.JupyterHub.hub_port = hub_port
    c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{proxy_api_port}"
    c.ConfigurableHTTPProxy.command = [str(chp)]
    c.ConfigurableHTTPProxy.should_start = True
    c.JupyterHub.db_url = f"sqlite:///{state_dir / 'jupyterhub.sqlite'}"
    c.JupyterHub.cookie_secret_file = str(state_dir / "jupyterhub_cookie_secret")
    c.JupyterHub.pid_file = str(state_dir / "jupyterhub.pid")
    c.ConfigurableHTTPProxy.pid_file = str(state_dir / "proxy.pid")
    c.JupyterHub.cleanup_servers = False  # servers survive a hub restart
    c.JupyterHub.authenticator_class = "shared-password"
    c.SharedPasswordAuthenticator.user_password = DEMO_PASSWORD
    c.Authenticator.allow_all = True
    c.Authenticator.admin_users = {"admin"}
    c.JupyterHub.load_groups = {name: {"users": users} for name, users in DEMO_GROUPS.items()}
    c.JupyterHub.allow_named_servers = True
    c.JupyterHub.spawner_class = "fedspawner"
    c.JupyterHub.extra_handlers = availability_handlers()
    c.Federation.clusters = member_clusters(sandbox_dir)
    c.Spawner.start_timeout = 120
    c.Spawner.http_timeout = 60
    c.Spawner.default_url = "/lab"
    c.KubeSpawner.image = "quay.io/jupyter/base-notebook:2025-01-13"
    c.KubeSpawner.cmd = ["jupyterhub-singleuser"]
    c.KubeSpawner.profile_list = DEMO_PROFILES if profiles is None else profiles
    c.KubeSpawner.storage_pvc_ensure = False
