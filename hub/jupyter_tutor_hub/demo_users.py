"""The demo run as root: its users isolated the way JupyterHub isolates them on one machine.

Each demo user is a system user, created by the authenticator as JupyterHub's
``LocalAuthenticator`` does with ``create_system_users``, and their single-user server (so
their kernels, and the tutor's scratch kernels) runs under their own uid, in a home only
they can read (0700), through ``LocalProcessSpawner``. The gateway runs as another system
user (the one that owns the embedded PostgreSQL, whose data folder and socket are its
own); the hub stays root, with its state in a folder only root reads. A student therefore
cannot read another student's files, the hub's cookie secret, the database or any other
user's ``/proc/PID/environ``. The key and the database URL reach the gateway alone: see
``jupyter_tutor_hub.apps.demo``.
"""

from __future__ import annotations

import os
import pwd
from pathlib import Path
from typing import Any

from jupyterhub.auth import LocalAuthenticator
from jupyterhub.authenticators.shared import SharedPasswordAuthenticator
from traitlets import default

from .hubconfig import copy_courses


class DemoAuthenticator(LocalAuthenticator, SharedPasswordAuthenticator):
    """The demo's shared password, and a system user created for each demo user."""

    @default("create_system_users")
    def _create_system_users_default(self) -> bool:
        return True

    @default("add_user_cmd")
    def _add_user_cmd_default(self) -> list[str]:
        # Debian's adduser makes the home 0700 (DIR_MODE); the pre-spawn hook makes sure.
        return ["adduser", "--quiet", "--gecos", "", "--disabled-password"]


def home_of(name: str) -> Path:
    """The system user's home."""
    return Path(pwd.getpwnam(name).pw_dir)


def own(path: Path, name: str) -> None:
    """Give ``path`` and everything under it to the system user ``name``."""
    entry = pwd.getpwnam(name)
    os.lchown(path, entry.pw_uid, entry.pw_gid)
    for folder, dirs, files in os.walk(path):
        for item in dirs + files:
            os.lchown(os.path.join(folder, item), entry.pw_uid, entry.pw_gid)


def private_home_with_course(courses: list[dict[str, Any]]) -> Any:
    """A pre-spawn hook: the user's home exists, is theirs and is 0700, and holds their own
    copy of the (released) courses they are in."""

    def hook(spawner: Any) -> None:
        name = spawner.user.name
        home = home_of(name)
        if not home.is_dir():
            home.mkdir(parents=True)
            own(home, name)
        home.chmod(0o700)
        for folder in copy_courses(courses, name, home):
            own(folder, name)

    return hook


def apply_system_users(
    c: Any, *, courses: list[dict[str, Any]], gateway_user: str, gateway_home: Path
) -> None:
    """Configure the hub for per-user isolation (the demo as root)."""
    c.JupyterHub.authenticator_class = DemoAuthenticator
    c.JupyterHub.spawner_class = "jupyterhub.spawner.LocalProcessSpawner"
    c.Spawner.pre_spawn_hook = private_home_with_course(courses)
    c.Spawner.args = []  # no --allow-root: servers run as their user
    for service in c.JupyterHub.services:
        if service.get("command"):  # the hub-managed gateway
            service["user"] = gateway_user
            service["cwd"] = str(gateway_home)
