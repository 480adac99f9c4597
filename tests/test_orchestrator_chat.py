"""The chat API of a real Jupyter server with the tutor extension, end to end.

The server (a subprocess) talks to the session's real JupyterHub gateway with a student's
hub token, and the gateway to the fake Anthropic API; kernels are real.
"""

from __future__ import annotations

import json
import time

import httpx
import pytest
from fake_anthropic import Reply
from server_harness import assert_valid_history, notebook, serve_student


@pytest.fixture(scope="module")
def server(hub, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("chat-server")
    yield from serve_student(hub, workdir, "student3", base_url="/user/student3/")


def types(events: list[dict]) -> list[str]:
    return [e["type"] for e in events]


def text_of(events: list[dict]) -> str:
    return "".join(e["delta"] for e in events if e["type"] == "text")


def test_answer_streams_with_context(server, fake_upstream) -> None:
    (server.root / "loops.ipynb").write_text(
        json.dumps(
            notebook(
                "x = 3",
                "while x > 0:\n    print(x)",
                "print(y)",
                outputs={
                    2: [
                        {
                            "output_type": "error",
                            "ename": "NameError",
                            "evalue": "name 'y' is not defined",
                            "traceback": ["\x1b[0;31mNameError\x1b[0m: name 'y' is not defined"],
                        }
                    ]
                },
            )
        )
    )
    answer = "Look at what changes `x` inside the loop."
    fake_upstream.script(Reply.text(answer, chunk_size=5, delay=0.02))
    events = server.chat(
        {
            "message": "Why does my loop never stop?",
            "context": {"notebook_path": "loops.ipynb", "cell_index": 1, "kind": "question"},
        }
    )
    assert types(events)[0] == "conversation"
    assert types(events)[-2:] == ["usage", "done"]
    assert events[-1]["stop_reason"] == "end_turn"
    assert text_of(events) == answer
    assert len([e for e in events if e["type"] == "text"]) > 3  # streamed, not in one piece
    request = fake_upstream.requests[-1]
    system = json.dumps(request.body["system"])
    assert "while x > 0" in system  # the active cell
    assert "x = 3" in system and "NameError" in system  # its neighbours, without ANSI codes
    assert "\\u001b" not in system
    assert request.body["messages"][-1]["content"][0]["text"] == "Why does my loop never stop?"
    assert {t["name"] for t in request.body["tools"]} >= {"run_code", "search_course"}


def test_follow_up_continues_the_conversation(server, fake_upstream) -> None:
    fake_upstream.script(Reply.text("First answer."), Reply.text("Second answer."))
    first = server.chat({"message": "What is a list?"})
    conversation_id = first[0]["conversation_id"]
    second = server.chat({"message": "And a tuple?", "conversation_id": conversation_id})
    assert second[0]["conversation_id"] == conversation_id
    messages = fake_upstream.requests[-1].body["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[1]["content"][0]["text"] == "First answer."
    stored = server.request("GET", f"tutor/api/conversations/{conversation_id}").json()
    assert [m["role"] for m in stored["messages"]] == ["user", "assistant"] * 2
    listed = server.request("GET", "tutor/api/conversations").json()["conversations"]
    assert conversation_id in [c["id"] for c in listed]


def test_stop_mid_answer(server, fake_upstream) -> None:
    fake_upstream.script(Reply.text("word " * 200, chunk_size=5, delay=0.05))
    events = []
    for event in server.stream_chat({"message": "Tell me a long story"}):
        events.append(event)
        if len(events) == 3:
            stop = server.request(
                "POST", "tutor/api/stop", json={"conversation_id": events[0]["conversation_id"]}
            )
            assert stop.status_code == 200
    assert events[-1] == {"type": "done", "stop_reason": "stopped"}
    assert len(text_of(events)) < len("word " * 200)
    again = server.request(
        "POST", "tutor/api/stop", json={"conversation_id": events[0]["conversation_id"]}
    )
    assert again.status_code == 404
    # The conversation goes on from the stopped answer.
    fake_upstream.script(Reply.text("Shorter, then."))
    follow_up = server.chat(
        {"message": "Shorter please", "conversation_id": events[0]["conversation_id"]}
    )
    assert follow_up[-1] == {"type": "done", "stop_reason": "end_turn"}
    messages = fake_upstream.requests[-1].body["messages"]
    assert_valid_history(messages)
    assert messages[-1]["content"][-1]["text"] == "Shorter please"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("not json", "not valid JSON"),
        ({"conversation_id": "x"}, "`message`"),
        ({"message": "hi", "conversation_id": "nope"}, "not a valid id"),
        ({"message": "hi", "context": {"cell_index": "4"}}, "cell_index"),
        ({"message": "hi", "context": {"kind": "solve-it"}}, "kind"),
    ],
)
def test_malformed_request_gets_400(server, body, reason) -> None:
    kwargs = {"content": body} if isinstance(body, str) else {"json": body}
    response = server.request("POST", "tutor/api/chat", **kwargs)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "bad_request"
    assert reason in error["message"]


def test_auth_and_xsrf_are_enforced(server) -> None:
    body = {"message": "hi"}
    no_token = server.request("POST", "tutor/api/chat", json=body, auth=False)
    assert no_token.status_code == 403
    assert no_token.json()["error"]["type"] == "unauthorized"
    listed = server.request("GET", "tutor/api/conversations", auth=False)
    assert listed.status_code == 403
    # A browser session (cookie) without the XSRF token is refused.
    with httpx.Client(base_url=server.url) as browser:
        browser.get("login", params={"token": server.token}, follow_redirects=True)
        assert browser.cookies
        refused = browser.post("tutor/api/chat", json=body)
        assert refused.status_code == 403
        assert "xsrf" in refused.text.lower()
    # A wrong kernel token is no token at all.
    wrong = server.request(
        "POST", "tutor/api/chat", json=body, auth=False, headers={"X-Tutor-Kernel-Token": "x"}
    )
    assert wrong.status_code == 403


def test_gateway_refusals_become_error_events(server, fake_upstream) -> None:
    fake_upstream.script(*[Reply.error(529, "overloaded_error", "Overloaded", retry_after=0)] * 3)
    events = server.chat({"message": "hello?"})
    assert types(events) == ["conversation", "error"]
    assert events[-1]["code"] == "unavailable"
    assert "unavailable" in events[-1]["message"]
    assert "Traceback" not in events[-1]["message"]


def test_error_mid_answer_keeps_the_text_and_ends_with_error(server, fake_upstream) -> None:
    fake_upstream.script(Reply.mid_stream_error("The first half of", chunk_size=4))
    events = server.chat({"message": "explain recursion"})
    assert text_of(events) == "The first half of"
    assert events[-1]["type"] == "error" and events[-1]["code"] == "unavailable"
    assert [e["type"] for e in events].count("error") == 1


def test_client_leaving_cancels_the_answer(server, fake_upstream) -> None:
    fake_upstream.script(Reply.text("word " * 400, chunk_size=5, delay=0.05))
    with httpx.stream(
        "POST",
        server.url + "tutor/api/chat",
        json={"message": "long"},
        headers=server.headers(),
        timeout=30,
    ) as response:
        for line in response.iter_lines():
            if '"text"' in line:  # the model is streaming: leave now
                break
    disconnects = fake_upstream.disconnects
    deadline = time.monotonic() + 10
    while fake_upstream.disconnects == disconnects and time.monotonic() < deadline:
        time.sleep(0.1)
    assert fake_upstream.disconnects > disconnects  # the gateway's upstream stream was closed
