"""Many courses on one hub: the question's course is decided hub-side (issue 16).

Two published courses, students in different hub groups (nbgrader's ``nbgrader-COURSE``),
an in-process gateway asked through the real hub's tokens: the course follows membership
and the notebook's marker, a course the student is not in is refused, several courses
without a marker ask the student to pick, and a hub without groups keeps its default.
"""

from __future__ import annotations

import json
import secrets

import httpx
import pytest
from policy_fixtures import publish_course, write_course
from test_policy import ask, rules

from jupyter_tutor.protocol import COURSES_HEADER, ERROR_CODE_HEADER
from jupyter_tutor_hub.gateway.courses import choose_course
from jupyter_tutor_hub.gateway.errors import GatewayError

#: What a student's server token holds that matters here (its own groups included).
SCOPES = ["access:services!service=tutor", "custom:tutor:use", "read:users:groups!user"]


@pytest.fixture
async def campus(make_gateway, hub, database_url, tmp_path):
    """Courses A (avoids list comprehensions) and B (avoids recursion), and three students:
    ``one`` in A, ``both`` in A and B, ``none`` in no course (the default course is A)."""
    tag = secrets.token_hex(3)
    a, b = f"mc-a-{tag}", f"mc-b-{tag}"
    publish_course(database_url, write_course(tmp_path / "a", name=a), a)
    publish_course(
        database_url, write_course(tmp_path / "b", name=b, avoid=("recursion",)), b
    )
    users = {role: f"mc-{role}-{tag}" for role in ("one", "both", "none")}
    for name in users.values():
        assert hub.api("POST", f"/users/{name}").status_code == 201
    for course, members in ((a, ["one", "both"]), (b, ["both"])):
        response = hub.api(
            "POST", f"/groups/nbgrader-{course}", json={"users": [users[m] for m in members]}
        )
        assert response.status_code == 201, response.text
    gateway = await make_gateway(TutorGateway__default_course=a)
    tokens = {role: hub.token_for(name, SCOPES) for role, name in users.items()}
    return gateway, tokens, a, b


async def get(gateway, token: str, path: str, **params) -> httpx.Response:
    """A GET to the in-process gateway (asynchronous: it serves on this event loop)."""
    async with httpx.AsyncClient() as http:
        return await http.get(
            f"{gateway.url}/{path}", params=params, headers={"Authorization": f"Bearer {token}"}
        )


async def post(gateway, token: str, path: str, context: dict, body: dict) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}", "X-Tutor-Context": json.dumps(context)}
    async with httpx.AsyncClient() as http:
        return await http.post(f"{gateway.url}/{path}", headers=headers, json=body)


async def test_the_course_follows_membership_and_the_notebook(campus, fake_upstream) -> None:
    gateway, tokens, a, b = campus
    both = gateway.client(tokens["both"])
    await ask(both, context={"notebook_path": "b/week1/loops.ipynb", "course_marker": b})
    assert "recursion" in rules(fake_upstream) and "list comprehensions" not in rules(fake_upstream)
    # The student's pick wins over the folder's marker (both are courses of theirs).
    await ask(both, context={"course": a, "course_marker": b})
    assert "list comprehensions" in rules(fake_upstream)
    # One course: that one, without a marker.
    await ask(gateway.client(tokens["one"]), context={"notebook_path": "x.ipynb"})
    assert "list comprehensions" in rules(fake_upstream)
    # In no course on a hub with a default course: the default, as before.
    await ask(gateway.client(tokens["none"]))
    assert "list comprehensions" in rules(fake_upstream)


async def test_several_courses_without_a_marker_ask_the_student_to_pick(campus) -> None:
    gateway, tokens, a, b = campus
    response = await post(
        gateway,
        tokens["both"],
        "v1/messages",
        {},
        {
            "model": "claude-sonnet-4-5",
            "max_tokens": 50,
            "messages": [{"role": "user", "content": "Where do I start?"}],
        },
    )
    assert response.status_code == 409, response.text
    assert response.headers[ERROR_CODE_HEADER] == "course_choice_required"
    assert json.loads(response.headers[COURSES_HEADER]) == [a, b]
    listed = (await get(gateway, tokens["both"], "api/courses")).json()
    assert [c["name"] for c in listed["courses"]] == [a, b]
    assert listed["courses"][0]["title"] == "Policy test course"
    alone = (await get(gateway, tokens["none"], "api/courses")).json()
    assert alone == {"courses": [], "default": a}


async def test_a_course_the_student_is_not_in_is_refused_everywhere(campus) -> None:
    gateway, tokens, a, b = campus
    one = tokens["one"]
    response = await post(
        gateway,
        one,
        "v1/messages",
        {"course_marker": b},
        {
            "model": "claude-sonnet-4-5",
            "max_tokens": 50,
            "messages": [{"role": "user", "content": "Show me B's material"}],
        },
    )
    assert response.status_code == 403 and b in response.json()["error"]["message"]
    assert response.headers[ERROR_CODE_HEADER] == "course_forbidden"
    search = await post(gateway, one, "api/search", {"course": b}, {"query": "recursion"})
    assert search.status_code == 403
    assert (await get(gateway, one, "api/course", course=b)).status_code == 403
    assert (await get(gateway, one, "api/course", course_marker=b)).status_code == 403
    assert (await get(gateway, one, "api/course")).json()["course"] == a
    # The default course is a fallback for students in no course, not a way around one.
    assert (await get(gateway, tokens["none"], "api/course", course=b)).status_code == 403


def test_choice_rules() -> None:
    assert choose_course({"a"}, requested=None, marker=None, default="") == "a"
    assert choose_course(set(), requested=None, marker=None, default="d") == "d"
    assert choose_course(set(), requested=None, marker="d", default="d") == "d"
    assert choose_course(set(), requested=None, marker=None, default="") == ""
    assert choose_course(set(), requested="x", marker=None, default="", admin=True) == "x"
    with pytest.raises(GatewayError) as refused:
        choose_course({"a"}, requested=None, marker="d", default="d")
    assert refused.value.status == 403
    with pytest.raises(GatewayError) as picked:
        choose_course({"a", "b"}, requested=None, marker="c", default="")
    assert picked.value.status == 403
