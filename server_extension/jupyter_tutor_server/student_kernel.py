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


class KernelUnavailable(ToolError):
    """No usable kernel; the message says why (it is shown to the model)."""


#: Runs inside the student's kernel (see the module docstring for the rules it keeps).
_HELPERS = r'''
import json, reprlib, sys, types, inspect, traceback

ARRAY_MODULES = ("numpy", "pandas", "polars", "torch", "xarray", "scipy")
HIDDEN = {"In", "Out", "exit", "quit", "get_ipython", "open"}


class SafeRepr(reprlib.Repr):
    """reprlib, but objects of the student's own classes are only named, never repr'd."""

    def repr_instance(self, obj, level):
        if type(obj).__module__ == "builtins":
            return reprlib.Repr.repr_instance(self, obj, level)
        return "<%s object>" % type(obj).__qualname__


def type_name(t):
    return t.__qualname__ if t.__module__ == "builtins" else t.__module__ + "." + t.__qualname__


def describe(name, value, short):
    t = type(value)
    item = {"name": name, "type": type_name(t)}
    top = t.__module__.split(".")[0]
    if isinstance(value, (types.FunctionType, types.BuiltinFunctionType)):
        try:
            item["signature"] = name + str(inspect.signature(value))
        except (TypeError, ValueError):
            pass
    elif isinstance(value, type):
        item["repr"] = "<class %s>" % type_name(value)
    elif top in ARRAY_MODULES:
        for attr in ("shape", "dtype", "dtypes"):
            found = getattr(value, attr, None)
            if found is not None and not callable(found):
                item[attr] = str(tuple(found) if attr == "shape" else found)[:300]
    elif t.__module__ == "builtins":
        if isinstance(value, (str, bytes, list, tuple, dict, set, frozenset, range)):
            item["len"] = len(value)
        item["repr"] = short.repr(value)
    else:
        item["repr"] = "<%s object>" % t.__qualname__
    return item


def variables(ns, names, limit):
    short = SafeRepr()
    short.maxstring = short.maxother = 120
    short.maxlist = short.maxtuple = short.maxdict = short.maxset = 10
    found, missing = [], []
    if names:
        for name in names:
            if name in ns:
                found.append(describe(name, ns[name], short))
            else:
                missing.append(name)
        more = 0
    else:
        visible = [
            (n, v) for n, v in list(ns.items())
            if not n.startswith("_") and n not in HIDDEN and not isinstance(v, types.ModuleType)
        ]
        found = [describe(n, v, short) for n, v in visible[:limit]]
        more = max(0, len(visible) - limit)
    return json.dumps({"variables": found, "missing": missing, "more": more})


def last_error():
    value = getattr(sys, "last_exc", None) or getattr(sys, "last_value", None)
    if value is None:
        return json.dumps(None)
    lines = traceback.format_exception(type(value), value, value.__traceback__)
    return json.dumps(
        {"ename": type(value).__name__, "evalue": str(value)[:2000], "traceback": "".join(lines)}
    )
'''


def _expression(call: str) -> str:
    """One expression that defines the helpers in a new dict and calls one of them."""
    return f"(lambda h: (exec({_HELPERS!r}, h), {call})[1])({{}})"


def variables_expression(names: list[str], limit: int) -> str:
    return _expression(f"h['variables'](globals(), {names!r}, {int(limit)})")


LAST_ERROR_EXPRESSION = _expression("h['last_error']()")


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
