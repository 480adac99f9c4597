"""JupyterHub on one host: DockerSpawner, the tutor gateway as an external service.

Used by infra/compose/compose.yaml (and shipped in the hub image as
/etc/jupyter-tutor/jupyterhub_config.py).  Everything site-specific comes from the
environment (see infra/compose/env.example); an authenticator other than the shared
password, or any other local setting, goes in a file under /srv/jupyterhub/config.d/,
loaded last.

Security: the students' containers run without capabilities, without privilege
escalation, on a read-only root filesystem, with memory, CPU and process limits, on an
internal network that reaches the hub, the proxy and the gateway but neither the
database nor the internet.  They receive TUTOR_GATEWAY_URL and nothing secret.
"""

import os
import sys
from pathlib import Path

from jupyter_tutor_hub.hubconfig import apply_production_config

c = get_config()  # type: ignore[name-defined] # noqa: F821
env = os.environ


def _names(variable: str) -> list[str]:
    return [name.strip() for name in env.get(variable, "").split(",") if name.strip()]


# --- the tutor: gateway service, roles and scopes, TUTOR_GATEWAY_URL for students -------
apply_production_config(c)

# --- the hub and its proxy (its own container, so the hub can restart alone) -------------
data_dir = Path(env.get("TUTOR_HUB_DATA_DIR", "/srv/jupyterhub/data"))
c.JupyterHub.hub_ip = "0.0.0.0"
c.JupyterHub.hub_port = 8081
c.JupyterHub.hub_connect_ip = env.get("TUTOR_HUB_HOSTNAME", "hub")
c.JupyterHub.db_url = f"sqlite:///{data_dir / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(data_dir / "jupyterhub_cookie_secret")
c.ConfigurableHTTPProxy.should_start = False
c.ConfigurableHTTPProxy.api_url = env.get("TUTOR_PROXY_API_URL", "http://proxy:8001")
# The proxy's token is read from CONFIGPROXY_AUTH_TOKEN.  Students' servers keep running
# while the hub restarts.
c.JupyterHub.cleanup_servers = False

# --- students' servers: DockerSpawner ----------------------------------------------------
c.JupyterHub.spawner_class = "docker"
c.DockerSpawner.image = env.get("TUTOR_SINGLEUSER_IMAGE", "jupyter-tutor-singleuser:0.1.0")
c.DockerSpawner.pull_policy = "ifnotpresent"
c.DockerSpawner.network_name = env.get("TUTOR_SINGLEUSER_NETWORK", "jupyter-tutor-singleuser")
c.DockerSpawner.use_internal_ip = True
c.DockerSpawner.remove = True  # containers are disposable; the home volume persists
c.DockerSpawner.notebook_dir = "/home/jovyan"
c.DockerSpawner.volumes = {"jupyter-tutor-home-{username}": "/home/jovyan"}
course_dir = env.get("TUTOR_COURSE_DIR")
if course_dir:  # the course material, read-only, beside each student's home
    c.DockerSpawner.read_only_volumes = {course_dir: "/srv/course"}
c.DockerSpawner.mem_limit = env.get("TUTOR_SINGLEUSER_MEM_LIMIT", "2G")
c.DockerSpawner.cpu_limit = float(env.get("TUTOR_SINGLEUSER_CPU_LIMIT", "1.0"))
c.DockerSpawner.extra_host_config = {
    "security_opt": ["no-new-privileges:true"],
    "cap_drop": ["ALL"],
    "read_only": True,
    "tmpfs": {"/tmp": "rw,nosuid,nodev,size=1g"},
    "pids_limit": int(env.get("TUTOR_SINGLEUSER_PIDS_LIMIT", "512")),
}
c.DockerSpawner.start_timeout = 120
c.DockerSpawner.http_timeout = 60
c.JupyterHub.concurrent_spawn_limit = 20

# --- idle culling: stop servers nobody used for TUTOR_CULL_TIMEOUT seconds ---------------
c.JupyterHub.services.append(
    {
        "name": "idle-culler",
        "command": [
            sys.executable,
            "-m",
            "jupyterhub_idle_culler",
            f"--timeout={int(env.get('TUTOR_CULL_TIMEOUT', '3600'))}",
            "--cull-every=300",
            "--concurrency=5",
        ],
    }
)
c.JupyterHub.load_roles.append(
    {
        "name": "idle-culler",
        "description": "Stop idle servers.",
        "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
        "services": ["idle-culler"],
    }
)

# --- Prometheus may read the hub's own metrics with its token ----------------------------
prometheus_token = env.get("TUTOR_PROMETHEUS_API_TOKEN")
if prometheus_token:
    c.JupyterHub.services.append({"name": "prometheus", "api_token": prometheus_token})
    c.JupyterHub.load_roles.append(
        {"name": "prometheus", "scopes": ["read:metrics"], "services": ["prometheus"]}
    )

# --- who may log in ----------------------------------------------------------------------
# A shared password is enough to try the stack; a course uses its institution's login
# (oauthenticator is in the image: put its settings in /srv/jupyterhub/config.d/).
shared_password = env.get("TUTOR_SHARED_PASSWORD")
if shared_password:
    c.JupyterHub.authenticator_class = "shared-password"
    c.SharedPasswordAuthenticator.user_password = shared_password
if _names("TUTOR_ALLOWED_USERS"):
    c.Authenticator.allowed_users = set(_names("TUTOR_ALLOWED_USERS"))
if _names("TUTOR_ADMIN_USERS"):
    c.Authenticator.admin_users = set(_names("TUTOR_ADMIN_USERS"))
instructors = _names("TUTOR_INSTRUCTORS")
if instructors:
    c.JupyterHub.load_groups = {"instructors": {"users": instructors}}

# --- local additions, last so they can override anything above --------------------------
for extra in sorted(Path(env.get("TUTOR_HUB_CONFIG_DIR", "/srv/jupyterhub/config.d")).glob("*.py")):
    load_subconfig(str(extra))  # type: ignore[name-defined] # noqa: F821
