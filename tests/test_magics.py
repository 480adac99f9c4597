"""``%tutor`` in real kernels started by a real Jupyter server with the tutor extension.

The server runs in single-user mode (the gateway inside it, its database a fresh test
database, the model the fake Anthropic API) under a JupyterHub-like base URL.  nbclient
executes notebooks on kernels the server started, so the kernels have exactly what the
server gives them: the magics loaded by themselves, and the chat API's URL and token.
Only course retrieval is stubbed (server_harness.RETRIEVAL_STUB), to get citations.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import nbformat
import psycopg
import pytest
from fake_anthropic import Reply
from nbclient import NotebookClient
from server_harness import (
    RETRIEVAL_STUB,
    ServerKernel,
    assert_valid_history,
    displayed,
    run_in,
    start_server,
)

from jupyter_tutor_hub.db import migrate


@pytest.fixture(scope="module")
def server(pg_server, fake_anthropic, tmp_path_factory):
    database_url = pg_server.create_database(f"magics_{os.getpid()}")
    with psycopg.connect(database_url, autocommit=True) as conn:
        migrate(conn)
    running = start_server(
        tmp_path_factory.mktemp("magics-server"),
        {
            "TUTOR_DATABASE_URL": database_url,
            "ANTHROPIC_BASE_URL": fake_anthropic.url,
            "ANTHROPIC_API_KEY": fake_anthropic.api_key,
            "TUTOR_DEFAULT_COURSE": "intro-python",
        },
        base_url="/user/alice/",
        config=RETRIEVAL_STUB,
    )
    yield running
    running.stop()


def run_notebook(server, name: str, *sources: str) -> nbformat.NotebookNode:
    """Execute a new notebook of ``sources`` on a kernel the server started for it."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nbformat.write(nb, server.root / name)
    kernel = ServerKernel(server, server.start_session(name))
    NotebookClient(nb, km=kernel, timeout=90, allow_errors=True).execute()
    return nb


def markdown_of(cell) -> str:
    return "\n".join(
        o["data"]["text/markdown"]
        for o in cell.outputs
        if o["output_type"] in ("display_data", "execute_result") and "text/markdown" in o["data"]
    )


def user_text(request) -> str:
    content = request.body["messages"][-1]["content"]
    return content if isinstance(content, str) else " ".join(b.get("text", "") for b in content)


def test_every_magic_in_a_notebook(server, fake_upstream) -> None:
    fake_upstream.script(
        Reply.text("A variable is a name for a value.", chunk_size=4, delay=0.01),
        Reply.text("You divided by zero."),
        Reply.tool_use("run_code", {"code": "print(45)"}, text="Let me try."),
        Reply.text("It is fine."),
        Reply.text("Try a smaller step."),
        Reply.text("A tuple is fixed."),
    )
    nb = run_notebook(
        server,
        "week1.ipynb",
        "%tutor What is a variable?",
        "1 / 0",
        "%tutor explain",
        "%%tutor Why is this slow?\ntotal = 0\nfor i in range(10):\n    total += i",
        "%tutor hint",
        "%tutor history",
        "%tutor --help",
        "chat = %tutor chat\nchat",
        "chat.ask('And a tuple?')",
    )
    cells = nb.cells
    errors = [i for i, c in enumerate(cells) if any(o.output_type == "error" for o in c.outputs)]
    assert errors == [1]

    first = markdown_of(cells[0])
    assert len(cells[0].outputs) == 1  # one display, updated in place
    assert first.startswith("A variable is a name for a value.")
    assert "**Sources**" in first and "While loops (week1/loops.ipynb, cell 4)" in first
    requests = fake_upstream.requests
    assert user_text(requests[0]) == "What is a variable?"

    assert "You divided by zero." in markdown_of(cells[2])
    assert user_text(requests[1]).startswith("Explain this error: ZeroDivisionError")
    assert "ZeroDivisionError" in str(requests[1].body["system"])
    assert len(requests[1].body["messages"]) == 3  # the same conversation continues

    third = markdown_of(cells[3])
    assert "Let me try." in third and "Trying code in a scratch kernel* ✓" in third
    assert "It is fine." in third
    assert "for i in range(10)" in str(requests[2].body["system"])
    assert user_text(requests[2]) == "Why is this slow?"

    assert user_text(requests[4]).startswith("Give me a hint")
    assert_valid_history(requests[4].body["messages"])  # with the tool round before it
    history = markdown_of(cells[5])
    assert "**You:** What is a variable?" in history
    assert "A variable is a name for a value." in history and "Try a smaller step." in history
    assert "%tutor explain" in markdown_of(cells[6]) and "--new" in markdown_of(cells[6])

    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    models = {m["model_name"]: [] for m in state.values()}
    for model in state.values():
        models[model["model_name"]].append(model["state"])
    assert "TextareaModel" in models and "ButtonModel" in models
    shown = str(models["OutputModel"])
    assert "A tuple is fixed." in shown
    assert user_text(requests[5]) == "And a tuple?"

    # A new kernel of the same notebook finds the notebook's conversation again.
    kernel_id = server.start_session("week1.ipynb")
    server.request("POST", f"api/kernels/{kernel_id}/restart").raise_for_status()
    client = server.kernel_client(kernel_id)
    assert "**You:** What is a variable?" in displayed(client, "%tutor history")
    client.stop_channels()


def test_interrupt_stops_the_answer(server, fake_upstream) -> None:
    fake_upstream.script(Reply.text("word " * 300, chunk_size=5, delay=0.05))
    kernel_id = server.start_session("interrupt.ipynb")
    client = server.kernel_client(kernel_id)
    msg_id = client.execute("%tutor Tell me a long story")
    shown = ""
    deadline = time.monotonic() + 30
    while "word word" not in shown and time.monotonic() < deadline:
        msg = client.get_iopub_msg(timeout=10)
        if msg["msg_type"] in ("display_data", "update_display_data"):
            shown = msg["content"]["data"]["text/markdown"]
    server.request("POST", f"api/kernels/{kernel_id}/interrupt").raise_for_status()
    # wait_for_ready may have left late kernel_info replies on the shell channel.
    reply = client.get_shell_msg(timeout=30)
    while reply["parent_header"]["msg_id"] != msg_id:
        assert reply["msg_type"] == "kernel_info_reply", reply["msg_type"]
        reply = client.get_shell_msg(timeout=30)
    assert reply["content"]["status"] == "ok"  # stopped cleanly: no KeyboardInterrupt
    while True:
        msg = client.get_iopub_msg(timeout=10)
        if msg["msg_type"] == "update_display_data":
            shown = msg["content"]["data"]["text/markdown"]
        assert msg["msg_type"] != "error"
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            break
    assert shown.endswith("*(stopped)*") and shown.count("word") < 300
    client.stop_channels()


def test_kernel_environment_and_terminal_ipython(server, fake_upstream) -> None:
    client = server.kernel_client(server.start_session("env.ipynb"))
    _, printed = run_in(
        client,
        "import os\nfor name in ('JUPYTER_TUTOR_URL', 'JUPYTER_TUTOR_TOKEN'):\n"
        "    print(os.environ[name])",
    )
    client.stop_channels()
    url, token = printed.split()
    assert url == server.url + "tutor/api/"  # under the server's base URL
    assert "ANTHROPIC" not in printed and token != server.token

    fake_upstream.script(Reply.text("Plain **answer** here."))
    env = {**os.environ, "JUPYTER_TUTOR_URL": url, "JUPYTER_TUTOR_TOKEN": token}
    result = subprocess.run(
        [
            *(sys.executable, "-m", "IPython", "--no-banner", "--colors=nocolor"),
            *("--ext", "jupyter_tutor_magics", "-c", "%tutor What is a loop?"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=server.root,
    )
    assert "Plain **answer** here." in result.stdout  # the text as it streamed
    assert (
        "Sources:" in result.stdout and "- While loops (week1/loops.ipynb, cell 4)" in result.stdout
    )
    assert "Markdown object" not in result.stdout


def test_outside_a_tutor_server_it_says_how_to_enable(tmp_path) -> None:
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell("%load_ext jupyter_tutor_magics"),
            nbformat.v4.new_code_cell("%tutor What is a list?"),
        ]
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER_TUTOR_")}
    client = NotebookClient(
        nb,
        timeout=60,
        kernel_name="python3",
        # A kernel that did not load the magics by itself: they are loaded by hand.
        extra_arguments=["--InteractiveShellApp.extra_extensions=[]"],
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute(env=env)
    message = markdown_of(nb.cells[1])
    assert "not available in this kernel" in message and "pip install jupyter-tutor" in message
    assert not any(o.output_type == "error" for c in nb.cells for o in c.outputs)
