"""``POST tutor/api/feedback`` and ``GET tutor/api/course`` of a real Jupyter server with the
tutor extension, forwarded to the session's real JupyterHub gateway (fake Anthropic API
upstream), as the panel and the magics call them.
"""

from __future__ import annotations

import uuid

import pytest
from fake_anthropic import Reply
from server_harness import run_in, serve_student

from jupyter_tutor_server.feedback import parse_course_query


@pytest.fixture(scope="module")
def server(hub, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("feedback-server")
    yield from serve_student(hub, workdir, "student3", base_url="/user/student3/")


def test_feedback_on_the_latest_answer(server, fake_upstream) -> None:
    fake_upstream.script(Reply.text("Try printing `x` inside the loop."))
    events = server.chat({"message": "Why does my loop never stop?"})
    assert events[-1]["type"] == "done", events
    conversation_id = events[0]["conversation_id"]

    stuck = server.request(
        "POST", "tutor/api/feedback", json={"conversation_id": conversation_id, "vote": "stuck"}
    )
    assert stuck.status_code == 201, stuck.text
    stored = stuck.json()
    assert stored["conversation_id"] == conversation_id
    assert stored["vote"] == "stuck"
    assert isinstance(stored["message_id"], int)
    assert "hint_level" in stored

    # The same answer by its id, with a comment: a 👍 (one rating per answer).
    up = server.request(
        "POST",
        "tutor/api/feedback",
        json={
            "conversation_id": conversation_id,
            "message_id": stored["message_id"],
            "vote": "up",
            "comment": "  clear, thanks  ",
        },
    )
    assert up.status_code == 201, up.text
    assert up.json()["message_id"] == stored["message_id"]


def test_kernels_may_call_both_routes(server) -> None:
    """The magics' way in: the kernel secret, no Jupyter token, no XSRF."""
    client = server.kernel_client(server.start_session("kernel.ipynb"))
    _, token = run_in(client, "import os; print(os.environ['JUPYTER_TUTOR_TOKEN'])")
    client.stop_channels()
    headers = {"X-Tutor-Kernel-Token": token.strip()}
    course = server.request("GET", "tutor/api/course", auth=False, headers=headers)
    assert course.status_code == 200, course.text
    vote = server.request(
        "POST",
        "tutor/api/feedback",
        auth=False,
        headers=headers,
        json={"conversation_id": str(uuid.uuid4()), "vote": "up"},
    )
    assert vote.status_code == 404, vote.text  # authenticated: refused by the gateway


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"vote": "up"}, "conversation_id"),
        ({"conversation_id": "not-a-uuid", "vote": "up"}, "conversation_id"),
        ({"conversation_id": str(uuid.uuid4()), "vote": "meh"}, "vote"),
        ({"conversation_id": str(uuid.uuid4()), "vote": "up", "message_id": "7"}, "message_id"),
        ({"conversation_id": str(uuid.uuid4()), "vote": "up", "message_id": True}, "message_id"),
        ({"conversation_id": str(uuid.uuid4()), "vote": "up", "comment": 5}, "comment"),
        ({"conversation_id": str(uuid.uuid4()), "vote": "up", "comment": "x" * 2001}, "comment"),
        (["up"], "JSON object"),
    ],
)
def test_bad_feedback_is_refused_with_a_reason(server, body, field) -> None:
    response = server.request("POST", "tutor/api/feedback", json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "bad_request"
    assert field in error["message"]


def test_feedback_on_someone_elses_conversation_is_not_found(server) -> None:
    response = server.request(
        "POST", "tutor/api/feedback", json={"conversation_id": str(uuid.uuid4()), "vote": "down"}
    )
    assert response.status_code == 404, response.text
    assert response.json()["error"]["message"]  # the gateway's own words


def test_feedback_needs_authentication(server) -> None:
    response = server.request(
        "POST",
        "tutor/api/feedback",
        auth=False,
        json={"conversation_id": str(uuid.uuid4()), "vote": "up"},
    )
    assert response.status_code == 403
    assert response.json()["error"]["type"] == "unauthorized"


def test_course_settings_for_the_panel(server) -> None:
    response = server.request(
        "GET",
        "tutor/api/course",
        params={"notebook_path": "week1/loops.ipynb", "cell_index": "2", "cell_id": "abc"},
    )
    assert response.status_code == 200, response.text
    course = response.json()
    assert course["course"] == "intro-python"  # the hub's TUTOR_DEFAULT_COURSE
    privacy = course["privacy"]
    assert isinstance(privacy["instructors_read_conversations"], bool)
    assert privacy["notice"]
    assert set(course["here"]) >= {"notebook_path", "cell_index", "exercise", "policy"}
    assert course["here"]["policy"] in ("explain", "hints-only", "no-help")
    # Without a position: the course's own settings.
    assert server.request("GET", "tutor/api/course").status_code == 200


def test_course_query_is_forwarded_relative_to_the_server_root(tmp_path) -> None:
    """What the gateway is asked (its answer names a notebook only if it is a course's)."""
    query = {
        "notebook_path": str(tmp_path / "week1" / "loops.ipynb"),
        "cell_index": "2",
        "cell_id": "abc",
    }
    assert parse_course_query(query.get, str(tmp_path)) == {
        "notebook_path": "week1/loops.ipynb",
        "cell_index": 2,
        "cell_id": "abc",
    }
    assert parse_course_query({}.get, str(tmp_path)) == {}


@pytest.mark.parametrize(
    "params",
    [{"cell_index": "-1"}, {"cell_index": "two"}, {"notebook_path": "/etc/passwd"}],
)
def test_bad_course_query_is_refused(server, params) -> None:
    response = server.request("GET", "tutor/api/course", params=params)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["type"] == "bad_request"
