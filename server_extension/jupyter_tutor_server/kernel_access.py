"""How ``%tutor`` in a kernel reaches this server's chat API, and nothing else.

Every kernel this server starts inherits two environment variables: the chat API's URL as
seen from the kernel's machine, and a random secret made when the server starts.  The chat
API's handlers accept that secret in their own header; no other handler knows the header,
so a kernel (or anyone who reads its environment) can ask the tutor but cannot use the
secret to open notebooks, terminals or other kernels.  It is nothing of the hub's.
"""

from __future__ import annotations

import getpass
import ipaddress
import os
import secrets
from typing import Any

from jupyter_server.auth import User

from jupyter_tutor.chat import API_PATH, TOKEN_ENV, URL_ENV

_WILDCARDS = {"", "0.0.0.0", "::", "*"}


def new_kernel_token() -> str:
    return secrets.token_urlsafe(32)


def local_url(serverapp: Any, path: str = "") -> str:
    """This server's URL from its own machine (``path`` under its base URL).

    A server listening on every interface (a container, a JupyterHub spawn) is reached on
    the loopback; one bound to a single address, on that address.
    """
    ip = serverapp.ip
    if ip in _WILDCARDS or ip == "localhost":
        host = "127.0.0.1"
    else:
        try:
            host = f"[{ip}]" if ipaddress.ip_address(ip).version == 6 else ip
        except ValueError:
            host = ip
    scheme = "https" if serverapp.certfile else "http"
    return f"{scheme}://{host}:{serverapp.port}{serverapp.base_url.rstrip('/')}/{path}"


def export_to_kernels(serverapp: Any, token: str) -> None:
    """Put the chat API's URL and the kernel token in the environment kernels inherit.

    The server's environment is what every kernel it starts begins with (the session
    manager copies it), so setting it once here reaches every later kernel.
    """
    os.environ[URL_ENV] = local_url(serverapp, API_PATH)
    os.environ[TOKEN_ENV] = token


def server_owner() -> User:
    """The user a kernel-token request acts as: this server's owner."""
    name = os.environ.get("JUPYTERHUB_USER") or getpass.getuser()
    return User(username=name)


class KernelTokenIdentity:
    """Stands in for the server's identity provider on a request with the kernel token.

    The request is the owner's, authenticated by a header secret (so, like Jupyter's own
    token, it needs no XSRF cookie and no origin check); anything else is delegated.
    """

    def __init__(self, provider: Any, user: User) -> None:
        self._provider = provider
        self._user = user

    def get_user(self, handler: Any) -> User:
        # What jupyter_server's and JupyterHub's XSRF checks read to let a request that
        # authenticated with a header through.
        handler._token_authenticated = True
        return self._user

    def is_token_authenticated(self, handler: Any) -> bool:
        return True

    def should_check_origin(self, handler: Any) -> bool:
        return False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._provider, name)
