"""How the tutor plugs into JupyterHub: scopes, roles, the gateway service, spawner env.

The config files in ``configs/`` are thin: they call the functions here, so the demo, the
tests and production share one definition of the tutor's roles and service.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from traitlets.config import LazyConfigValue

from .scopes import ACCESS_SCOPE, SERVICE_NAME, SERVICE_PREFIX

CUSTOM_SCOPES = {
    "custom:tutor:use": {"description": "Ask the tutor questions."},
    "custom:tutor:instructor": {
        "description": "See the tutor's analytics and conversations of one's courses.",
    },
}

#: What the instructors' dashboard may ask for when a user signs in to it (JupyterHub grants
#: only those the user holds): the scope that shows the user instructs.
DASHBOARD_OAUTH_SCOPES = ["custom:tutor:instructor"]

#: Environment the gateway needs from the process that starts the hub; nothing else of the
#: hub's environment reaches it, and none of this reaches the students' servers.
GATEWAY_ENV_KEYS = (
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_BASE_URL",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "TUTOR_MODEL",
    "TUTOR_DATA_DIR",
    "TUTOR_DATABASE_URL",
    "TUTOR_GATEWAY_CONFIG",
    "TUTOR_DEFAULT_COURSE",
    "HF_HUB_OFFLINE",
    "TRANSFORMERS_OFFLINE",
)


def tutor_roles(instructor_groups: list[str]) -> list[dict[str, Any]]:
    """Roles: every user may reach the gateway; instructors also see analytics."""
    return [
        {
            "name": "user",
            "scopes": ["self", ACCESS_SCOPE, "custom:tutor:use"],
        },
        {
            "name": "tutor-instructor",
            "description": "Instructors: tutor analytics of their courses.",
            "groups": instructor_groups,
            "scopes": ["custom:tutor:instructor", ACCESS_SCOPE],
        },
        {
            "name": "tutor-gateway",
            "description": "The gateway reads users and groups to resolve roles and adoption.",
            "services": [SERVICE_NAME],
            "scopes": ["read:users", "read:groups", "list:users"],
        },
    ]


#: What a student's server token may do: report activity, be reached, reach the gateway.
SERVER_TOKEN_SCOPES = [
    "users:activity!user",
    "access:servers!server",
    # The user's own groups travel with the identity the gateway gets from the hub:
    # course membership (nbgrader-COURSE, formgrade-COURSE) is read from them.
    "read:users:groups!user",
    ACCESS_SCOPE,
    "custom:tutor:use",
]


#: Seconds JupyterHub waits for the managed gateway's port (its default is 10-30 s).
GATEWAY_START_TIMEOUT = 120


def managed_gateway_service(port: int, env: Mapping[str, str]) -> dict[str, Any]:
    """The gateway as a hub-managed service (local demo, tests)."""
    return {
        "name": SERVICE_NAME,
        "url": f"http://127.0.0.1:{port}",
        "command": [sys.executable, "-m", "jupyter_tutor_hub.apps.gateway"],
        "environment": {k: env[k] for k in GATEWAY_ENV_KEYS if env.get(k)},
        "display": True,
        "oauth_no_confirm": True,
        "oauth_client_allowed_scopes": DASHBOARD_OAUTH_SCOPES,
        # The gateway opens its port within seconds (heavy parts load behind it); the
        # margin is for a machine under load, where even the interpreter starts slowly.
        "timeout": GATEWAY_START_TIMEOUT,
    }


def _configured(section: Any, name: str, empty: Any) -> Any:
    """What an earlier config file (or the Zero to JupyterHub chart) already set."""
    value = section.get(name, empty)
    return value.get_value(empty) if isinstance(value, LazyConfigValue) else value


def _merged_by_name(existing: list[dict], ours: list[dict]) -> list[dict]:
    """``existing`` entries kept, ours added; a role of the same name gains our scopes."""
    merged = {entry["name"]: dict(entry) for entry in existing}
    for entry in ours:
        before = merged.get(entry["name"])
        if before and "scopes" in entry:
            scopes = list(dict.fromkeys([*before.get("scopes", []), *entry["scopes"]]))
            merged[entry["name"]] = {**before, **entry, "scopes": scopes}
        else:
            merged[entry["name"]] = entry
    return list(merged.values())


def add_services(c: Any, services: list[dict[str, Any]]) -> None:
    """Register ``services``, keeping those configured before (e.g. the idle culler)."""
    c.JupyterHub.services = _merged_by_name(
        _configured(c.JupyterHub, "services", []), services
    )


def apply_common(c: Any, *, gateway_url: str, instructor_groups: list[str]) -> None:
    """Settings every deployment shares, merged into what was configured before.

    Roles, scopes and services configured earlier stay (the chart's idle culler, say).
    ``TUTOR_GATEWAY_URL`` is added to the environment of every spawner section already
    configured, because a subclass's ``environment`` (the chart always sets
    ``KubeSpawner.environment``) hides the base class's.
    """
    c.JupyterHub.custom_scopes = {
        **_configured(c.JupyterHub, "custom_scopes", {}),
        **CUSTOM_SCOPES,
    }
    c.JupyterHub.load_roles = _merged_by_name(
        _configured(c.JupyterHub, "load_roles", []), tutor_roles(instructor_groups)
    )
    c.Spawner.server_token_scopes = SERVER_TOKEN_SCOPES
    # Where the student's server finds the gateway. Only a URL: no key, no credentials.
    for section in ("Spawner", "LocalProcessSpawner", "DockerSpawner", "KubeSpawner"):
        if section == "Spawner" or "environment" in c[section]:
            c[section].environment = {
                **_configured(c[section], "environment", {}),
                "TUTOR_GATEWAY_URL": gateway_url,
            }
    c.Spawner.default_url = "/lab"


#: The demo gateway's limits (budgets, rate, open streams), unless $TUTOR_GATEWAY_CONFIG.
DEMO_GATEWAY_CONFIG = Path(__file__).parent / "configs" / "gateway_config_demo.py"


def apply_demo_config(c: Any, env: Mapping[str, str] = os.environ) -> None:
    """The local demo (and the integration tests): everything on 127.0.0.1, local processes.

    Read from the environment that ``jupyter-tutor demo`` (or a test) prepares:
    ``TUTOR_DATA_DIR``, ``TUTOR_DEMO_PORT``, ``TUTOR_GATEWAY_PORT``, ``TUTOR_DEMO_PASSWORD``,
    ``TUTOR_DEMO_USERS`` (comma separated), ``TUTOR_DEMO_INSTRUCTORS``,
    ``TUTOR_DEMO_COURSES`` (JSON: ``[{name, dir, students, instructors}]``, each course's
    released folder copied into its members' homes, its members in ``nbgrader-NAME`` and
    ``formgrade-NAME``); the gateway's settings come from ``TUTOR_GATEWAY_CONFIG``, by
    default the demo's own limits.
    ``TUTOR_DEMO_GATEWAY_ENV`` names a file (readable by the hub alone) holding the
    gateway's secrets, so they are in no environment but the gateway's;
    ``TUTOR_DEMO_GATEWAY_USER`` (the demo as root) turns on per-user isolation
    (:mod:`jupyter_tutor_hub.demo_users`), the gateway running as that system user.
    """
    data_dir = Path(env["TUTOR_DATA_DIR"])
    port = int(env.get("TUTOR_DEMO_PORT", "8000"))
    gateway_port = int(env.get("TUTOR_GATEWAY_PORT", str(port + 10)))
    students = [
        u for u in env.get("TUTOR_DEMO_USERS", "student1,student2,student3").split(",") if u
    ]
    instructors = [u for u in env.get("TUTOR_DEMO_INSTRUCTORS", "instructor1").split(",") if u]
    courses = json.loads(env.get("TUTOR_DEMO_COURSES") or "[]")

    c.JupyterHub.ip = "127.0.0.1"
    c.JupyterHub.port = port
    c.JupyterHub.hub_ip = "127.0.0.1"
    c.JupyterHub.hub_port = port + 1
    c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{port + 2}"
    c.JupyterHub.db_url = f"sqlite:///{data_dir / 'hub' / 'jupyterhub.sqlite'}"
    c.JupyterHub.cookie_secret_file = str(data_dir / "hub" / "jupyterhub_cookie_secret")
    c.ConfigurableHTTPProxy.pid_file = str(data_dir / "hub" / "proxy.pid")

    c.JupyterHub.authenticator_class = "shared-password"
    c.SharedPasswordAuthenticator.user_password = env["TUTOR_DEMO_PASSWORD"]
    members = {u for c in courses for u in c["students"] + c["instructors"]}
    c.Authenticator.allowed_users = set(students + instructors) | members
    c.JupyterHub.load_groups = {
        "students": {"users": students},
        "instructors": {"users": instructors},
    }
    for course in courses:
        c.JupyterHub.load_groups[f"nbgrader-{course['name']}"] = {"users": course["students"]}
        c.JupyterHub.load_groups[f"formgrade-{course['name']}"] = {
            "users": course["instructors"]
        }

    c.JupyterHub.spawner_class = "jupyterhub.spawner.SimpleLocalProcessSpawner"
    c.SimpleLocalProcessSpawner.home_dir_template = str(data_dir / "users" / "{username}")
    if courses:
        c.Spawner.pre_spawn_hook = _copy_courses_into_home(courses, data_dir / "users")
    # The single-user server of this very environment, whatever PATH the hub runs with.
    c.Spawner.cmd = [sys.executable, "-m", "jupyterhub.singleuser"]
    c.Spawner.start_timeout = 60
    c.Spawner.http_timeout = 60
    if os.geteuid() == 0:
        c.Spawner.args = ["--allow-root"]

    gateway_env = {
        "TUTOR_GATEWAY_CONFIG": str(DEMO_GATEWAY_CONFIG),
        **env,
        **_gateway_secrets(env.get("TUTOR_DEMO_GATEWAY_ENV")),
    }
    add_services(c, [managed_gateway_service(gateway_port, gateway_env)])
    apply_common(
        c,
        gateway_url=f"http://127.0.0.1:{gateway_port}{SERVICE_PREFIX}",
        # formgrade-COURSE members hold the instructor scope; their group says of which course.
        instructor_groups=["instructors", *(f"formgrade-{c['name']}" for c in courses)],
    )
    if env.get("TUTOR_DEMO_GATEWAY_USER"):
        from .demo_users import apply_system_users

        apply_system_users(
            c,
            courses=courses,
            gateway_user=env["TUTOR_DEMO_GATEWAY_USER"],
            gateway_home=data_dir / "gateway",
        )


def _gateway_secrets(path: str | None) -> dict[str, str]:
    """The gateway's variables kept out of the hub's environment (a JSON object in a file
    only the hub can read), or none."""
    return json.loads(Path(path).read_text()) if path else {}


def _copy_courses_into_home(courses: list[dict[str, Any]], homes: Path) -> Any:
    """A pre-spawn hook giving each demo user their own copy of their courses' released
    folders, each named after its course (where the panel looks for cited notebooks)."""

    def hook(spawner: Any) -> None:
        copy_courses(courses, spawner.user.name, homes / spawner.user.name)

    return hook


def copy_courses(courses: list[dict[str, Any]], user: str, home: Path) -> list[Path]:
    """Copy into ``home`` the released folders of the demo courses ``user`` is in (each
    named after its course) that are not there yet; return the folders copied."""
    copied = []
    for course in courses:
        target = home / course["name"]
        if user in course["students"] + course["instructors"] and not target.exists():
            shutil.copytree(course["dir"], target)
            copied.append(target)
    return copied


def apply_production_config(c: Any, env: Mapping[str, str] = os.environ) -> None:
    """Production: the gateway runs as its own (replicated) service, registered with the hub.

    ``TUTOR_GATEWAY_INTERNAL_URL`` is where the hub's proxy and the students' servers reach
    the gateway (a Kubernetes Service, or the compose service name);
    ``TUTOR_GATEWAY_API_TOKEN`` is the token the gateway uses to ask the hub who a caller is.
    The spawner, authenticator and storage are the deployment's own choice (see infra/).
    """
    gateway_url = env.get("TUTOR_GATEWAY_INTERNAL_URL", "http://tutor-gateway:8080")
    add_services(
        c,
        [
            {
                "name": SERVICE_NAME,
                "url": gateway_url,
                "api_token": env["TUTOR_GATEWAY_API_TOKEN"],
                "display": True,
                "oauth_no_confirm": True,
                "oauth_client_allowed_scopes": DASHBOARD_OAUTH_SCOPES,
            }
        ],
    )
    apply_common(
        c,
        gateway_url=gateway_url.rstrip("/") + SERVICE_PREFIX,
        instructor_groups=production_instructor_groups(env),
    )


def production_instructor_groups(env: Mapping[str, str] = os.environ) -> list[str]:
    """The groups holding the tutor-instructor role in production: ``TUTOR_INSTRUCTOR_GROUPS``
    (comma separated), ``instructors`` unless set."""
    return [g for g in env.get("TUTOR_INSTRUCTOR_GROUPS", "instructors").split(",") if g]


def apply_lti13_config(
    c: Any,
    *,
    issuer: str,
    client_id: str | Iterable[str],
    authorize_url: str,
    jwks_endpoint: str,
    deployment_ids: Iterable[str] = (),
    course_map: Mapping[str, str] | None = None,
    map_only: bool = False,
    username_key: str = "sub",
    env: Mapping[str, str] = os.environ,
) -> None:
    """Sign-in from an LMS (Canvas, Moodle) by LTI 1.3, each launch putting the user in
    the launched course's groups (``tutor-lti13``, :mod:`jupyter_tutor_hub.lti`).

    The arguments are what the LMS shows once the tool is registered (docs/deploy.md):
    its issuer, the client id(s) and deployment id(s) it gave the tool, its authorization
    and JWKS endpoints. ``course_map`` maps an LMS course (context id or label) to a tutor
    course; unmapped ones take their label as the name unless ``map_only``.
    ``username_key`` is the claim that names the hub user (``sub`` keeps names opaque;
    ``email`` or a custom login claim make them readable). Groups then come from launches
    alone, so ``c.JupyterHub.load_groups`` is emptied (JupyterHub refuses both), and an
    instructor's launch also joins the groups holding the tutor-instructor role
    (``TUTOR_INSTRUCTOR_GROUPS``), as :func:`apply_production_config` configures it.
    """
    c.JupyterHub.authenticator_class = "tutor-lti13"
    c.JupyterHub.load_groups = {}
    auth = c.LTI13CourseAuthenticator
    auth.issuer = issuer
    auth.client_id = {client_id} if isinstance(client_id, str) else set(client_id)
    auth.authorize_url = authorize_url
    auth.jwks_endpoint = jwks_endpoint
    auth.deployment_ids = set(deployment_ids)
    auth.course_map = dict(course_map or {})
    auth.map_only = map_only
    auth.username_key = username_key
    auth.instructor_role_groups = production_instructor_groups(env)
