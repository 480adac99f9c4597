"""Read-only looks into the student's live kernel: variables and the last exception.

The student's kernel holds their work, so nothing here runs their code or changes their
namespace: requests are ``silent`` (no outputs, no execution count), keep no history, and
evaluate one *expression* through ``user_expressions``, whose value comes back in the
reply rather than on the output channel.  The expression defines its helper in a fresh
dictionary, never in the student's namespace, and calls no ``__repr__``, ``__len__`` or
property of the student's own classes.
"""

from __future__ import annotations

import ast
import json
import time
from queue import Empty
from typing import Any

from jupyter_core.utils import ensure_async

from jupyter_tutor.text import strip_ansi

from .errors import ToolError
from .kernel_code import call_expression, inspection


class KernelUnavailable(ToolError):
    """No usable kernel; the message says why (it is shown to the model)."""


def variables_expression(names: list[str], limit: int) -> str:
    return call_expression(inspection, f"h['variables'](globals(), {names!r}, {int(limit)})")


LAST_ERROR_EXPRESSION = call_expression(inspection, "h['last_error']()")


class StudentKernels:
    """The kernels of the student's open notebooks, found through the session manager."""

    def __init__(self, session_manager: Any, kernel_manager: Any) -> None:
        self.session_manager = session_manager
        self.kernel_manager = kernel_manager

    async def session_for(self, notebook_path: str) -> dict[str, Any] | None:
        """The session (with its kernel) of ``notebook_path``, if one is open."""
        for session in await ensure_async(self.session_manager.list_sessions()):
            if session.get("path", "").strip("/") == notebook_path and session.get("kernel"):
                return session
        return None

    async def kernel_name(self, notebook_path: str | None) -> str:
        """The kernel (environment) of ``notebook_path``'s session, else the default."""
        session = await self.session_for(notebook_path) if notebook_path else None
        if session:
            return session["kernel"]["name"]
        return self.kernel_manager.default_kernel_name

    async def evaluate(self, notebook_path: str | None, expression: str, timeout: float) -> Any:
        """The JSON value of ``expression`` in the notebook's kernel, evaluated silently."""
        if not notebook_path:
            raise KernelUnavailable("No notebook is open in this question's context.")
        session = await self.session_for(notebook_path)
        if session is None:
            raise KernelUnavailable(
                f"No kernel is running for {notebook_path} (the student has not run it yet, "
                "or shut its kernel down)."
            )
        kernel = self.kernel_manager.get_kernel(session["kernel"]["id"])
        if getattr(kernel, "execution_state", "") == "busy":
            raise KernelUnavailable(
                "The student's kernel is busy running a cell; its state can be read once the "
                "cell finishes."
            )
        client = kernel.client()
        client.start_channels()
        try:
            msg_id = client.execute(
                "",
                silent=True,
                store_history=False,
                user_expressions={"value": expression},
                allow_stdin=False,
                stop_on_error=False,
            )
            reply = await _reply_to(client, msg_id, timeout)
        finally:
            client.stop_channels()
        result = reply["content"].get("user_expressions", {}).get("value", {})
        if result.get("status") != "ok":
            raise KernelUnavailable(
                "The student's kernel could not be inspected (is it a Python kernel?): "
                + strip_ansi(f"{result.get('ename', '')}: {result.get('evalue', '')}")
            )
        return json.loads(ast.literal_eval(result["data"]["text/plain"]))


async def _reply_to(client: Any, msg_id: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            reply = await client.get_shell_msg(timeout=remaining)
        except Empty:
            break
        if reply.get("parent_header", {}).get("msg_id") == msg_id:
            return reply
    raise KernelUnavailable(
        f"The student's kernel did not answer within {timeout:.0f} s (it may be busy)."
    )
