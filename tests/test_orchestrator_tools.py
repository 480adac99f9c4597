"""The tools the model calls, run for real by a Jupyter server with the tutor extension.

The fake Anthropic API (behind the session's real gateway) is scripted to call a tool;
the tool runs in a real kernel (a scratch kernel, or read-only in the student's), and its
result must reach the model's next request.
"""

from __future__ import annotations

import json
import shutil

import psutil
import pytest
from fake_anthropic import Reply
from server_harness import notebook, run_in, serve_student

NOTEBOOK = "work.ipynb"


@pytest.fixture(scope="module")
def server(hub, tmp_path_factory):
    servers = serve_student(
        hub,
        tmp_path_factory.mktemp("tools-server"),
        "student3",
        config="c.ScratchKernels.timeout = 3\n"
        "c.Toolbox.output_chars = 2000\n"
        "c.TutorExtension.max_tool_rounds = 3\n",
    )
    running = next(servers)
    (running.root / NOTEBOOK).write_text(
        json.dumps(notebook("secret = 41", "nums = [1, 2, 3]", "1 / 0"))
    )
    yield running
    next(servers, None)  # stops the server


@pytest.fixture(scope="module")
def student_kernel(server):
    """The student's own kernel of work.ipynb, with some state in it."""
    client = server.kernel_client(server.start_session(NOTEBOOK))
    run_in(
        client,
        "secret = 41\nnums = [1, 2, 3]\n"
        "class Touchy:\n"
        "    def __repr__(self):\n"
        "        global touched\n"
        "        touched = True\n"
        "        return 'touched'\n"
        "t = Touchy()\ntouched = False\n",
    )
    yield client
    client.stop_channels()


def ask_with_tools(server, fake_upstream, *calls, final="Done."):
    """Script one tool call per reply, then a final text; return events and tool results."""
    fake_upstream.script(*(Reply.tool_use(name, args) for name, args in calls), Reply.text(final))
    events = server.chat(
        {"message": "Check it for me", "context": {"notebook_path": NOTEBOOK, "cell_index": 0}}
    )
    results = [e for e in events if e["type"] == "tool_result"]
    return events, results


def sent_tool_results(fake_upstream) -> list[dict]:
    """The tool results the model received in the last request."""
    last = fake_upstream.requests[-1].body["messages"][-1]
    assert last["role"] == "user"
    return [b for b in last["content"] if b["type"] == "tool_result"]


def test_run_code_runs_in_a_scratch_kernel(server, fake_upstream, student_kernel) -> None:
    code = (
        "import os\nsecret = 99\nprint(40 + 2)\n"
        "names = ('JUPYTERHUB_API_TOKEN', 'JUPYTER_TUTOR_TOKEN')\n"
        "print('token:', *(os.environ.get(k) for k in names))"
    )
    events, results = ask_with_tools(server, fake_upstream, ("run_code", {"code": code}))
    calls = [e for e in events if e["type"] == "tool_call"]
    assert calls[0]["name"] == "run_code" and calls[0]["input"] == {"code": code}
    assert results[0]["is_error"] is False and "42" in results[0]["output"]
    assert "token: None None" in results[0]["output"]  # no secrets in the scratch kernel
    sent = sent_tool_results(fake_upstream)
    assert sent[0]["tool_use_id"] == calls[0]["id"] and "42" in sent[0]["content"]
    assert events[-2]["type"] == "usage" and events[-1]["stop_reason"] == "end_turn"
    assert "".join(e["delta"] for e in events if e["type"] == "text") == "Done."
    _, printed = run_in(student_kernel, "print(secret)")
    assert printed.strip() == "41"  # the student's kernel was not touched


def test_stuck_loop_is_interrupted_at_the_limit(server, fake_upstream) -> None:
    _, results = ask_with_tools(
        server,
        fake_upstream,
        ("run_code", {"code": "print('start', flush=True)\nwhile True:\n    pass"}),
        ("run_code", {"code": "print('still alive')"}),
    )
    assert results[0]["is_error"] is True
    assert "time limit" in results[0]["output"] and "start" in results[0]["output"]
    assert results[1]["is_error"] is False and "still alive" in results[1]["output"]


def test_huge_output_is_cut(server, fake_upstream) -> None:
    process = psutil.Process(server.process.pid)
    before = process.memory_info().rss
    _, results = ask_with_tools(
        server, fake_upstream, ("run_code", {"code": "print('x' * 50_000_000)\nprint('end')"})
    )
    sent = sent_tool_results(fake_upstream)[0]["content"]
    assert len(sent) < 3000 and "output cut" in sent
    assert len(results[0]["output"]) < 2000
    assert process.memory_info().rss - before < 40 * 2**20  # 50 MB never reached the server


def test_dead_kernel_is_replaced(server, fake_upstream) -> None:
    _, results = ask_with_tools(
        server,
        fake_upstream,
        ("run_code", {"code": "import os\nos._exit(1)"}),
        ("run_code", {"code": "print('fresh')"}),
    )
    assert results[0]["is_error"] is True and "died" in results[0]["output"]
    assert results[1]["is_error"] is False and "fresh" in results[1]["output"]


def test_inspect_variables_changes_nothing(server, fake_upstream, student_kernel) -> None:
    count_before = run_in(student_kernel, "pass")[0]["content"]["execution_count"]
    _, results = ask_with_tools(server, fake_upstream, ("inspect_variables", {}))
    output = results[0]["output"]
    assert results[0]["is_error"] is False
    assert '"name": "nums"' in output and '"len": 3' in output
    assert '"name": "secret"' in output and "41" in output
    assert "Touchy object" in output
    reply, printed = run_in(
        student_kernel, "print(touched, sorted(k for k in dir() if k.startswith('h')))"
    )
    assert printed.strip() == "False []"  # no __repr__ of the student's ran; no names added
    assert reply["content"]["execution_count"] == count_before + 1  # nothing ran in between


def test_last_error_comes_from_the_live_kernel(server, fake_upstream, student_kernel) -> None:
    run_in(student_kernel, "{}['missing']")
    _, results = ask_with_tools(server, fake_upstream, ("get_last_error", {}))
    assert "live kernel" in results[0]["output"]
    assert "KeyError" in results[0]["output"] and "missing" in results[0]["output"]


def test_read_notebook_and_search(server, fake_upstream) -> None:
    _, results = ask_with_tools(
        server,
        fake_upstream,
        ("read_notebook", {"start": 1, "end": 3}),
        ("search_course", {"query": "while loops"}),
    )
    assert results[0]["is_error"] is False
    assert "[cell 2, code]" in results[0]["output"]  # cell index 1, as people count it
    assert "nums = [1, 2, 3]" in results[0]["output"]
    assert "secret = 41" not in results[0]["output"]
    assert results[1]["is_error"] is False  # the gateway's search answered (maybe no hits)


def test_tool_failures_go_back_to_the_model(server, fake_upstream) -> None:
    events, results = ask_with_tools(
        server,
        fake_upstream,
        ("no_such_tool", {}),
        ("read_notebook", {"path": "missing.ipynb"}),
        ("run_code", {"code": 42}),
    )
    assert [r["is_error"] for r in results] == [True, True, True]
    assert "no tool named" in results[0]["output"]
    assert "does not exist" in results[1]["output"]
    assert "`code` must be" in results[2]["output"]
    assert events[-1] == {"type": "done", "stop_reason": "end_turn"}


def test_tool_rounds_are_bounded(server, fake_upstream) -> None:
    calls = [("run_code", {"code": f"print({n})"}) for n in range(5)]
    events, results = ask_with_tools(server, fake_upstream, *calls)
    assert len(results) == 3  # c.TutorExtension.max_tool_rounds
    assert events[-1] == {"type": "done", "stop_reason": "max_tool_rounds"}


@pytest.mark.skipif(not shutil.which("bwrap"), reason="bubblewrap is not installed")
def test_scratch_kernel_is_sandboxed(server, fake_upstream) -> None:
    code = (
        "import socket\n"
        "try:\n"
        f"    socket.create_connection(('127.0.0.1', {server.port}), timeout=2)\n"
        "    print('network: open')\n"
        "except OSError as err:\n"
        "    print('network: closed', err)\n"
        "try:\n"
        f"    open({str(server.root / 'owned.txt')!r}, 'w')\n"
        "    print('files: writable')\n"
        "except OSError:\n"
        "    print('files: read-only')\n"
        f"print('readable:', open({str(server.root / NOTEBOOK)!r}).read()[:1])\n"
        "import glob, os\n"
        f"print('secrets:', glob.glob({str(server.runtime_dir)!r} + '/*'))\n"
        "print('processes:', sorted(p for p in os.listdir('/proc') if p.isdigit())[:9])\n"
    )
    _, results = ask_with_tools(server, fake_upstream, ("run_code", {"code": code}))
    output = results[0]["output"]
    assert "network: closed" in output and "files: read-only" in output
    assert "readable: {" in output
    assert "secrets: []" in output  # no server or kernel connection files
    assert "processes: ['1', '2'" in output  # its own process namespace
