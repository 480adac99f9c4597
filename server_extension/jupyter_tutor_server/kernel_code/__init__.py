"""Code that runs inside kernels, kept as real modules (linted, unit-tested) and sent as
their own source.

Each module here imports only the standard library (and IPython inside functions), because
it is executed in a kernel where this package is not installed.  ``call_expression`` builds
one expression that defines a module's functions in a fresh dictionary and calls one: no
name lands in the kernel's namespace.
"""

from __future__ import annotations

import inspect
from types import ModuleType


def source(module: ModuleType) -> str:
    """The module's source, as it is sent to a kernel."""
    return inspect.getsource(module)


def call_expression(module: ModuleType, call: str) -> str:
    """One expression defining ``module`` in a new dict ``h`` and evaluating ``call``."""
    return f"(lambda h: (exec({source(module)!r}, h), {call})[1])({{}})"
