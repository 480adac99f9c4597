"""Runs inside a scratch kernel for ``check_exercise``: the student's cells, then the tests.

This module's source is sent to the scratch kernel and executed there (so it imports the
standard library only, and nothing of the tutor's).  Each cell runs in a fresh namespace
of its own, never the scratch kernel's globals, with what it prints kept aside; after
each one a line starting with :data:`MARK` reports it as JSON, so the server learns how
far a run got even when the time limit interrupts it.  An interrupt (the time limit) is
never caught here.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import io
import json
import os
import reprlib
import sys
import traceback
from typing import Any

#: Starts each report line (nothing a student prints by accident).
MARK = "⟦tutor-check⟧ "
#: Characters of a failure's message and of a cell's printed output kept.
MESSAGE_CHARS = 500
PRINTED_CHARS = 300


class _Kept(io.StringIO):
    """What a cell prints: the first ``PRINTED_CHARS`` characters, the rest dropped."""

    def write(self, text: str) -> int:
        room = PRINTED_CHARS - self.tell()
        if room > 0:
            super().write(text[:room])
        return len(text)


def _ipython() -> Any:
    """The kernel's IPython shell (to turn ``%magics`` into Python), if there is one."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


def _failure(err: BaseException, sources: dict[str, list[str]], cell_file: str) -> dict:
    """What went wrong: the exception, the line of the cell that failed, and the line of
    the student's code where it was raised (when that is another place)."""
    frames = [f for f in traceback.extract_tb(err.__traceback__) if f.filename in sources]
    message = "".join(traceback.format_exception_only(type(err), err)).strip()
    found: dict[str, Any] = {"error": message[:MESSAGE_CHARS]}
    if isinstance(err, SyntaxError) and err.filename == cell_file and err.lineno:
        found["line"] = err.lineno
        found["code"] = (sources[cell_file] + [""])[err.lineno - 1].strip()[:MESSAGE_CHARS]
    own = [f for f in frames if f.filename == cell_file]
    if own and own[0].lineno:
        found["line"] = own[0].lineno
        found["code"] = sources[cell_file][own[0].lineno - 1].strip()[:MESSAGE_CHARS]
    last = frames[-1] if frames else None
    if last is not None and last.filename != cell_file and last.lineno:
        found["raised_in"] = {
            "cell": int(last.filename.strip("<>").split()[-1]),
            "line": last.lineno,
            "code": sources[last.filename][last.lineno - 1].strip()[:MESSAGE_CHARS],
        }
    return found


def _compared(line: str, namespace: dict[str, Any]) -> dict[str, str]:
    """For a failed one-line ``assert left == right``: what each side gave (``got``, the
    student's value, and ``expected``), so the tutor can say "it returns None for []"."""
    try:
        statement = ast.parse(line).body[0]
    except (SyntaxError, IndexError):
        return {}
    test = statement.test if isinstance(statement, ast.Assert) else None
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1):
        return {}
    found: dict[str, str] = {}
    for key, node in (("got", test.left), ("expected", test.comparators[0])):
        try:
            value = eval(compile(ast.Expression(node), "<assert>", "eval"), namespace)
        except Exception as err:
            return {key: f"raised {type(err).__name__}"} if key == "got" else found
        found[key] = reprlib.repr(value)[:MESSAGE_CHARS]
    return found


def main(steps_json: str, cwd: str | None = None) -> None:
    """Run the steps (``[{"cell", "source", "test"}]``) in order, reporting each."""
    out = sys.stdout
    shell = _ipython()
    namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
    if shell is not None:
        namespace["get_ipython"] = lambda: shell
    sources: dict[str, list[str]] = {}
    here = os.getcwd()
    if cwd:
        with contextlib.suppress(OSError):
            os.chdir(cwd)  # the notebook's folder, so relative data paths work
    try:
        for step in json.loads(steps_json):
            cell_file = f"<cell {int(step['cell'])}>"
            source = step["source"]
            if shell is not None:
                source = shell.transform_cell(source)
            sources[cell_file] = source.splitlines() or [""]
            report: dict[str, Any] = {"cell": step["cell"], "test": step.get("test")}
            printed = _Kept()
            try:
                with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
                    exec(compile(source, cell_file, "exec"), namespace)
            except (Exception, SystemExit) as err:
                report.update(ok=False, **_failure(err, sources, cell_file))
                if isinstance(err, AssertionError) and report.get("code"):
                    with contextlib.redirect_stdout(_Kept()), contextlib.redirect_stderr(_Kept()):
                        report.update(_compared(report["code"], namespace))
            else:
                report["ok"] = True
            if printed.getvalue():
                report["printed"] = printed.getvalue()
            print(MARK + json.dumps(report), file=out, flush=True)
    finally:
        os.chdir(here)
