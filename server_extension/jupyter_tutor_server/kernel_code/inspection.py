"""Runs inside the student's kernel, as one silent expression (``student_kernel.py``):
reads variables and the last exception without running any ``__repr__``, ``__len__`` or
property of the student's own classes, and without touching their namespace."""

from __future__ import annotations

import contextlib
import inspect
import json
import reprlib
import sys
import traceback
import types
from typing import Any

ARRAY_MODULES = ("numpy", "pandas", "polars", "torch", "xarray", "scipy")
HIDDEN = {"In", "Out", "exit", "quit", "get_ipython", "open"}


class SafeRepr(reprlib.Repr):
    """reprlib, but objects of the student's own classes are only named, never repr'd."""

    def repr_instance(self, obj: Any, level: int) -> str:
        if type(obj).__module__ == "builtins":
            return reprlib.Repr.repr_instance(self, obj, level)
        return f"<{type(obj).__qualname__} object>"


def type_name(t: type) -> str:
    return t.__qualname__ if t.__module__ == "builtins" else t.__module__ + "." + t.__qualname__


def describe(name: str, value: Any, short: reprlib.Repr) -> dict[str, Any]:
    t = type(value)
    item: dict[str, Any] = {"name": name, "type": type_name(t)}
    top = t.__module__.split(".")[0]
    if isinstance(value, (types.FunctionType, types.BuiltinFunctionType)):
        with contextlib.suppress(TypeError, ValueError):
            item["signature"] = name + str(inspect.signature(value))
    elif isinstance(value, type):
        item["repr"] = f"<class {type_name(value)}>"
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
        item["repr"] = f"<{t.__qualname__} object>"
    return item


def variables(ns: dict[str, Any], names: list[str] | None, limit: int) -> str:
    short = SafeRepr()
    short.maxstring = short.maxother = 120
    short.maxlist = short.maxtuple = short.maxdict = short.maxset = 10
    found: list[dict[str, Any]] = []
    missing: list[str] = []
    if names:
        for name in names:
            if name in ns:
                found.append(describe(name, ns[name], short))
            else:
                missing.append(name)
        more = 0
    else:
        visible = [
            (n, v)
            for n, v in list(ns.items())
            if not n.startswith("_") and n not in HIDDEN and not isinstance(v, types.ModuleType)
        ]
        found = [describe(n, v, short) for n, v in visible[:limit]]
        more = max(0, len(visible) - limit)
    return json.dumps({"variables": found, "missing": missing, "more": more})


def last_error() -> str:
    value = getattr(sys, "last_exc", None) or getattr(sys, "last_value", None)
    if value is None:
        return json.dumps(None)
    lines = traceback.format_exception(type(value), value, value.__traceback__)
    return json.dumps(
        {"ename": type(value).__name__, "evalue": str(value)[:2000], "traceback": "".join(lines)}
    )
