"""What answers while the gateway starts, so its port opens at once.

JupyterHub gives a managed service a limited time to answer on its URL, and the gateway's
heavy parts (the Anthropic SDK, the database pool, the dashboard, later the embedding
model) take many seconds to import and load on a busy machine.  So the server listens
first, behind a :class:`SwitchingRouter` that serves a tiny *starting* application
(``health`` says ``starting``, every other route a 503 that says to retry), and switches
to the real application once it is built.  Nothing here imports the heavy parts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from tornado import httputil
from tornado.routing import Router
from tornado.web import Application, RequestHandler

T = TypeVar("T")

#: ``Retry-After`` (seconds) on requests that arrive before the gateway is ready.
RETRY_AFTER = 3


class StartingHandler(RequestHandler):
    """Any route while the gateway starts: a 503 in the Anthropic error format."""

    def _starting(self) -> None:
        self.set_status(503)
        self.set_header("Content-Type", "application/json")
        self.set_header("Retry-After", str(RETRY_AFTER))
        self.finish(
            json.dumps(
                {
                    "type": "error",
                    "error": {
                        "type": "overloaded_error",
                        "message": "The tutor is starting; try again in a few seconds.",
                    },
                }
            )
        )

    get = post = put = delete = _starting


class StartingHealthHandler(RequestHandler):
    """``GET health`` while the gateway starts: ``starting`` (503, so probes wait)."""

    def get(self) -> None:
        self.set_status(503)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"status": "starting"}))


def starting_app(prefix: str) -> Application:
    """The application served until the real one is ready."""
    prefix = "/" + prefix.strip("/") + "/"
    return Application(
        [(prefix + "health", StartingHealthHandler), (r"/.*", StartingHandler)],
        log_function=lambda _handler: None,  # probes poll it; a 503 here is no warning
    )


class SwitchingRouter(Router):
    """Routes every request to ``target``, which can be replaced while serving."""

    def __init__(self, target: Application) -> None:
        self.target = target

    def find_handler(
        self, request: httputil.HTTPServerRequest, **kwargs: Any
    ) -> httputil.HTTPMessageDelegate | None:
        return self.target.find_handler(request, **kwargs)


def in_daemon_thread(function: Callable[[], T]) -> asyncio.Future[T]:
    """Run ``function`` in a daemon thread; its result as a future of the running loop.

    Unlike ``asyncio.to_thread``, a stop does not wait for it: imports and model loading
    cannot be interrupted, and a gateway told to stop must not wait seconds for them.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def run() -> None:
        result: T | None = None
        error: BaseException | None = None
        try:
            result = function()
        except BaseException as caught:  # handed to the awaiting task
            error = caught
        with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits any more
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=run, name=getattr(function, "__name__", "startup"), daemon=True).start()
    return future
