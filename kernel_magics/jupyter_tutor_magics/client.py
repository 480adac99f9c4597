"""The magics' client of the chat API of the Jupyter server that started this kernel.

It finds the server through the environment the tutor's server extension gives every
kernel (the URL, under any base URL such as JupyterHub's ``/user/NAME/``, and a token
good for the chat API only), and holds nothing else: no model key, no hub token.
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any
from urllib.parse import urlparse

import httpx

from jupyter_tutor.chat import KERNEL_TOKEN_HEADER, TOKEN_ENV, URL_ENV
from jupyter_tutor.sse import iter_event_data

NOT_ENABLED = (
    "The tutor is not available in this kernel: it was not started by a Jupyter server "
    "with Jupyter Tutor. Install it where Jupyter runs (`pip install jupyter-tutor`), "
    "restart Jupyter and reopen this notebook. On JupyterHub, ask your instructor or admin "
    "to enable the tutor."
)


class TutorUnavailable(Exception):
    """The tutor cannot be asked; the message says why and what to do."""


class ChatClient:
    """``POST chat`` (streamed), ``POST stop``, ``GET conversations[/{id}]``."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url if url.endswith("/") else url + "/"
        host = urlparse(self.url).hostname or ""
        self._http = httpx.Client(
            base_url=self.url,
            headers={KERNEL_TOKEN_HEADER: token},
            # The server's own certificate is for its public name, not the loopback.
            verify=not _is_loopback(host),
            timeout=httpx.Timeout(30.0, read=300.0),
        )

    @classmethod
    def from_environment(cls) -> ChatClient:
        url, token = os.environ.get(URL_ENV), os.environ.get(TOKEN_ENV)
        if not url or not token:
            raise TutorUnavailable(NOT_ENABLED)
        return cls(url, token)

    @contextmanager
    def chat(self, body: dict[str, Any]) -> Iterator[Iterator[dict[str, Any]]]:
        """The answer's events as they arrive; leaving the block closes the connection."""
        try:
            with self._http.stream(
                "POST", "chat", json=body, headers={"Accept": "text/event-stream"}
            ) as response:
                if response.status_code != 200:
                    response.read()
                    raise TutorUnavailable(_refusal(response))
                yield (json.loads(data) for data in iter_event_data(response.iter_lines()))
        except httpx.TransportError as err:
            raise TutorUnavailable(self._unreachable(err)) from err

    def stop(self, conversation_id: str) -> None:
        """Ask the server to stop an answer (best effort: it may have ended already)."""
        with suppress(httpx.HTTPError):
            self._http.post("stop", json={"conversation_id": conversation_id}, timeout=5)

    def get(self, path: str, **params: str) -> Any:
        try:
            response = self._http.get(path, params=params)
        except httpx.TransportError as err:
            raise TutorUnavailable(self._unreachable(err)) from err
        if response.status_code != 200:
            raise TutorUnavailable(_refusal(response))
        return response.json()

    def _unreachable(self, err: Exception) -> str:
        return (
            f"The tutor could not be reached at {self.url} ({type(err).__name__}). If the "
            "Jupyter server was restarted, restart this kernel too."
        )


def _refusal(response: httpx.Response) -> str:
    try:
        error = response.json().get("error", {})
        message = error.get("message")
    except (ValueError, AttributeError):
        message = None
    return message or f"The tutor refused the request (HTTP {response.status_code})."


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"
