"""One host: infra/compose (compose file, its JupyterHub config) checked without Docker.

The compose file is validated against the Compose Specification's JSON schema (shipped by
the docker-compose 1.29.2 package; the Makefile extracts it), linted with compose-lint, and
its security properties are asserted.  The JupyterHub config is executed with a traitlets
Config and a real DockerSpawner builds the container it would create, with the Docker API
replaced by a recorder.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from traitlets.config import Config

REPO = Path(__file__).resolve().parent.parent
COMPOSE_DIR = REPO / "infra" / "compose"
COMPOSE_FILE = COMPOSE_DIR / "compose.yaml"
HUB_CONFIG = COMPOSE_DIR / "jupyterhub_config.py"
COMPOSE_SCHEMA = REPO / ".make" / "compose-spec.json"
SECRETS = ("ANTHROPIC_API_KEY", "TUTOR_DATABASE_URL", "POSTGRES_PASSWORD")
ALWAYS_ON = ("proxy", "hub", "tutor-gateway", "db")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def test_compose_file_matches_the_compose_specification(compose) -> None:
    if not COMPOSE_SCHEMA.is_file():
        pytest.skip(
            f"{COMPOSE_SCHEMA.relative_to(REPO)} is missing: `make test` extracts it from the "
            "docker-compose 1.29.2 package"
        )
    import jsonschema

    schema = json.loads(COMPOSE_SCHEMA.read_text())
    # The top-level `name` joined the specification after this schema was published.
    schema["properties"]["name"] = {"type": "string"}
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(compose)]
    assert not errors, "\n".join(errors)


def test_compose_lint_passes() -> None:
    lint = shutil.which("compose-lint") or str(Path(sys.executable).with_name("compose-lint"))
    if not Path(lint).exists():
        pytest.skip("compose-lint is not installed (pip package, in the test extra)")
    result = subprocess.run(
        [lint, "check", "--strict-config", "--fail-on", "low",
         "--config", str(COMPOSE_DIR / "compose-lint.yml"), str(COMPOSE_FILE)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_service_is_hardened_and_limited(compose) -> None:
    for name, service in compose["services"].items():
        assert service.get("read_only") is True, name
        assert "no-new-privileges:true" in service.get("security_opt", []), name
        assert service.get("cap_drop") == ["ALL"], name
        assert not service.get("cap_add"), name
        assert not service.get("privileged"), name
        limits = service["deploy"]["resources"]["limits"]
        assert limits.get("cpus") and limits.get("memory"), name
        assert any(t.startswith("/tmp:") for t in service.get("tmpfs", [])), name


def test_networks_keep_students_away_from_the_database_and_the_internet(compose) -> None:
    networks = compose["networks"]
    services = compose["services"]
    on = {name: set(s.get("networks", [])) for name, s in services.items()}
    for internal in ("hub", "db", "monitoring"):
        assert networks[internal]["internal"] is True, internal
    # DockerSpawner puts the students on the `hub` network (by its explicit name).
    hub_env = services["hub"]["environment"]
    assert hub_env["TUTOR_SINGLEUSER_NETWORK"] == networks["hub"]["name"]
    assert on["db"] == {"db"}
    assert {n for n, nets in on.items() if "db" in nets} == {"db", "tutor-gateway", "grafana"}
    assert {n for n, nets in on.items() if "hub" in nets} == {"proxy", "hub", "tutor-gateway"}
    assert {n for n, nets in on.items() if "egress" in nets} == {"hub", "tutor-gateway"}
    # Only the proxy (and Grafana, on localhost) publish ports.
    published = {n for n, s in services.items() if s.get("ports")}
    assert published == {"proxy", "grafana"}
    assert services["grafana"]["ports"][0].startswith("127.0.0.1:")


def test_only_the_gateway_gets_the_secrets(compose) -> None:
    for name, service in compose["services"].items():
        env = service.get("environment", {})
        text = json.dumps(env)
        for secret in SECRETS:
            holder = {"ANTHROPIC_API_KEY": "tutor-gateway", "TUTOR_DATABASE_URL": "tutor-gateway",
                      "POSTGRES_PASSWORD": None}[secret]  # fmt: skip
            if name == holder:
                assert secret in env, (name, secret)
            elif secret != "POSTGRES_PASSWORD":
                assert secret not in env, (name, secret)
        if name not in ("db", "tutor-gateway"):
            assert "POSTGRES_PASSWORD" not in text, name
    gateway = compose["services"]["tutor-gateway"]["environment"]
    assert gateway["JUPYTERHUB_SERVICE_PREFIX"] == "/services/tutor/"
    assert gateway["JUPYTERHUB_SERVICE_URL"] == "http://0.0.0.0:8080"
    assert "${TUTOR_GATEWAY_API_TOKEN" in gateway["JUPYTERHUB_API_TOKEN"]
    assert gateway["TUTOR_DATABASE_URL"].endswith("@db:5432/tutor")
    hub = compose["services"]["hub"]
    assert hub["environment"]["TUTOR_GATEWAY_INTERNAL_URL"] == "http://tutor-gateway:8080"
    assert compose["services"]["tutor-gateway"]["hostname"] == "tutor-gateway"


def test_every_variable_is_documented_in_env_example(compose) -> None:
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", COMPOSE_FILE.read_text()))
    documented = set(re.findall(r"^([A-Z0-9_]+)=", (COMPOSE_DIR / "env.example").read_text(), re.M))
    assert used - documented == set()
    gitignore = (COMPOSE_DIR / "secrets" / ".gitignore").read_text().splitlines()
    assert "*" in gitignore


def test_monitoring_mounts_the_shipped_files(compose) -> None:
    services = compose["services"]
    assert services["prometheus"]["profiles"] == ["monitoring"]
    for service in ("prometheus", "grafana"):
        for volume in services[service]["volumes"]:
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (COMPOSE_DIR / source).exists(), source
    assert all("profiles" not in services[s] for s in ALWAYS_ON)


# --- the JupyterHub config and the container DockerSpawner creates from it ----------------

HUB_ENV = {
    "TUTOR_GATEWAY_API_TOKEN": "gateway-token-for-tests",
    "TUTOR_GATEWAY_INTERNAL_URL": "http://tutor-gateway:8080",
    "TUTOR_SINGLEUSER_NETWORK": "jupyter-tutor-singleuser",
    "TUTOR_SHARED_PASSWORD": "a-long-shared-password-for-tests",
    "TUTOR_ALLOWED_USERS": "student1,student2",
    "TUTOR_INSTRUCTORS": "teacher1",
    "TUTOR_CULL_TIMEOUT": "1800",
    # Secrets a careless host might have in the hub's environment: they must not leak.
    "ANTHROPIC_API_KEY": "sk-ant-must-not-leak",
    "TUTOR_DATABASE_URL": "postgresql://tutor:must-not-leak@db:5432/tutor",
}


def load_hub_config(monkeypatch, tmp_path: Path, **env: str) -> Config:
    for key in ("TUTOR_COURSE_DIR", "TUTOR_PROMETHEUS_API_TOKEN", "TUTOR_ADMIN_USERS"):
        monkeypatch.delenv(key, raising=False)
    for key, value in {**HUB_ENV, "TUTOR_HUB_CONFIG_DIR": str(tmp_path), **env}.items():
        monkeypatch.setenv(key, value)
    c = Config()
    loaded: list[str] = []
    namespace = {
        "get_config": lambda: c,
        "load_subconfig": loaded.append,
        "__file__": str(HUB_CONFIG),
    }
    exec(compile(HUB_CONFIG.read_text(), str(HUB_CONFIG), "exec"), namespace)
    c.loaded_subconfigs = loaded
    return c


class _User:
    """What DockerSpawner reads of a JupyterHub user."""

    def __init__(self, name: str) -> None:
        self.name = self.escaped_name = name
        self.id = 7
        self.url = f"/user/{name}/"
        self.server = None


def create_container(config: Config, username: str = "student1") -> dict[str, Any]:
    """The create_container call DockerSpawner makes, with the Docker API recorded."""
    import docker
    from dockerspawner import DockerSpawner
    from jupyterhub.objects import Hub

    DockerSpawner._client = docker.APIClient(base_url="tcp://127.0.0.1:9", version="1.45")
    spawner = DockerSpawner(
        config=config, user=_User(username), hub=Hub(ip="hub", port=8081, base_url="/hub/")
    )
    spawner.api_token = "user-server-token"
    calls: dict[str, dict] = {}

    async def docker_call(method: str, *args: Any, **kwargs: Any) -> dict:
        calls[method] = kwargs
        if method == "inspect_image":
            return {"Config": {"Cmd": ["jupyterhub-singleuser"], "Entrypoint": ["tini"]}}
        return {"Id": "0123456789ab"}

    spawner.docker = docker_call
    asyncio.run(spawner.create_object())
    return calls["create_container"]


def test_docker_spawner_creates_a_locked_down_container(monkeypatch, tmp_path) -> None:
    config = load_hub_config(monkeypatch, tmp_path)
    created = create_container(config)
    host = created["host_config"]
    assert created["image"] == "jupyter-tutor-singleuser:0.1.0"
    assert host["NetworkMode"] == "jupyter-tutor-singleuser"
    assert host["Memory"] == 2 * 1024**3
    assert host["CpuQuota"] == host["CpuPeriod"] == 100_000  # one CPU
    assert host["PidsLimit"] == 512
    assert host["CapDrop"] == ["ALL"]
    assert "CapAdd" not in host and not host.get("Privileged")
    assert host["SecurityOpt"] == ["no-new-privileges:true"]
    assert host["ReadonlyRootfs"] is True
    assert "/tmp" in host["Tmpfs"]
    assert host["AutoRemove"] is True
    # A persistent volume of its own per student, mounted as home.
    assert host["Binds"] == ["jupyter-tutor-home-student1:/home/jovyan:rw"]
    assert not host.get("PortBindings")  # reached on the internal network only


def test_the_students_environment_holds_the_gateway_url_and_nothing_secret(
    monkeypatch, tmp_path
) -> None:
    env = create_container(load_hub_config(monkeypatch, tmp_path))["environment"]
    assert env["TUTOR_GATEWAY_URL"] == "http://tutor-gateway:8080/services/tutor/"
    leaked = {
        k: v
        for k, v in env.items()
        if k in SECRETS or k == "TUTOR_GATEWAY_API_TOKEN" or "must-not-leak" in str(v)
        or v == HUB_ENV["TUTOR_GATEWAY_API_TOKEN"]
    }  # fmt: skip
    assert leaked == {}
    assert env["JUPYTERHUB_API_TOKEN"] == "user-server-token"


def test_limits_and_course_material_come_from_the_environment(monkeypatch, tmp_path) -> None:
    config = load_hub_config(
        monkeypatch,
        tmp_path,
        TUTOR_SINGLEUSER_MEM_LIMIT="4G",
        TUTOR_SINGLEUSER_CPU_LIMIT="2",
        TUTOR_COURSE_DIR="/srv/courses/intro-python",
    )
    host = create_container(config, "student2")["host_config"]
    assert host["Memory"] == 4 * 1024**3
    assert host["CpuQuota"] == 200_000
    assert "/srv/courses/intro-python:/srv/course:ro" in host["Binds"]
    assert "jupyter-tutor-home-student2:/home/jovyan:rw" in host["Binds"]


def test_hub_config_registers_gateway_culler_and_roles(monkeypatch, tmp_path) -> None:
    (tmp_path / "20-site.py").write_text("# local settings\n")
    (tmp_path / "10-auth.py").write_text("# the institution's login\n")
    c = load_hub_config(monkeypatch, tmp_path, TUTOR_PROMETHEUS_API_TOKEN="prom-token")
    services = {s["name"]: s for s in c.JupyterHub.services}
    assert services["tutor"]["url"] == "http://tutor-gateway:8080"
    assert services["tutor"]["api_token"] == HUB_ENV["TUTOR_GATEWAY_API_TOKEN"]
    assert "command" not in services["tutor"]  # external: the hub does not start it
    culler = services["idle-culler"]["command"]
    assert culler[1:3] == ["-m", "jupyterhub_idle_culler"] and "--timeout=1800" in culler
    roles = {r["name"]: r for r in c.JupyterHub.load_roles}
    assert roles["idle-culler"]["services"] == ["idle-culler"]
    assert "delete:servers" in roles["idle-culler"]["scopes"]
    assert roles["prometheus"]["scopes"] == ["read:metrics"]
    assert "access:services!service=tutor" in roles["user"]["scopes"]
    assert roles["tutor-instructor"]["groups"] == ["instructors"]
    assert c.JupyterHub.load_groups == {"instructors": {"users": ["teacher1"]}}
    assert c.Authenticator.allowed_users == {"student1", "student2"}
    assert c.JupyterHub.authenticator_class == "shared-password"
    # the proxy runs in its own container; servers survive a hub restart
    assert c.ConfigurableHTTPProxy.should_start is False
    assert c.ConfigurableHTTPProxy.api_url == "http://proxy:8001"
    assert c.JupyterHub.cleanup_servers is False
    # local files are loaded last, in name order
    assert [Path(p).name for p in c.loaded_subconfigs] == ["10-auth.py", "20-site.py"]
