"""The code sent to kernels, imported and tested here as ordinary modules."""

from __future__ import annotations

import json
import sys

from jupyter_tutor_server.kernel_code import call_expression, inspection, output_cap, source


class FakeSession:
    """Records what a kernel would send."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict]] = []

    def send(self, stream, msg_type, content=None, parent=None, *args, **kwargs):
        self.sent.append((msg_type, content))
        return msg_type


def parent(msg_id: str) -> dict:
    return {"header": {"msg_id": msg_id}}


def test_output_is_cut_per_request() -> None:
    session = FakeSession()
    output_cap.cap_output(session, 10)
    session.send(None, "stream", {"name": "stdout", "text": "abcdefgh"}, parent("a"))
    session.send(None, "stream", {"name": "stdout", "text": "ijklmnop"}, parent("a"))
    session.send(None, "stream", {"name": "stdout", "text": "more"}, parent("a"))
    session.send(None, "execute_result", {"data": {"text/plain": "x" * 50}}, parent("b"))
    session.send(None, "status", {"execution_state": "idle"}, parent("b"))
    texts = [
        (kind, c.get("text") or c.get("data", {}).get("text/plain")) for kind, c in session.sent
    ]
    assert texts[0] == ("stream", "abcdefgh")
    assert texts[1] == ("stream", "ij" + output_cap.NOTE)  # the rest of the first request dropped
    assert texts[2] == ("execute_result", "x" * 10 + output_cap.NOTE)  # a new request, a new cap
    assert session.sent[3] == ("status", {"execution_state": "idle"})


class Touchy:
    touched = False

    def __repr__(self) -> str:
        Touchy.touched = True
        return "touched"


def test_variables_never_run_the_students_repr() -> None:
    ns = {"n": [1, 2, 3], "t": Touchy(), "_hidden": 1, "json": json, "f": len}
    found = json.loads(inspection.variables(ns, None, 10))
    by_name = {v["name"]: v for v in found["variables"]}
    assert set(by_name) == {"n", "t", "f"}
    assert by_name["n"] == {"name": "n", "type": "list", "len": 3, "repr": "[1, 2, 3]"}
    assert by_name["t"]["repr"] == "<Touchy object>" and not Touchy.touched
    missing = json.loads(inspection.variables(ns, ["n", "nope"], 10))
    assert missing["missing"] == ["nope"] and len(missing["variables"]) == 1


def test_last_error() -> None:
    try:
        int("not a number")
    except ValueError as err:
        sys.last_value = err
    try:
        error = json.loads(inspection.last_error())
    finally:
        del sys.last_value
    assert error["ename"] == "ValueError" and "not a number" in error["traceback"]


def test_modules_are_sent_as_their_source() -> None:
    assert "def variables(" in source(inspection)
    expression = call_expression(inspection, "h['variables']({'a': 1}, None, 5)")
    found = json.loads(eval(expression))  # as the kernel evaluates it
    assert found["variables"][0]["name"] == "a"
