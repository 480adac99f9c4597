"""Many courses on one hub: the question's course is decided hub-side (issue 16).

Three published courses, students in different hub groups (nbgrader's ``nbgrader-COURSE``),
an in-process gateway asked through the real hub's tokens: the course follows membership
and the notebook's marker, a course the student is not in is refused, several courses
without a marker ask the student to pick, and a hub without groups keeps its default.
"""

from __future__ import annotations

import json
import secrets

import anthropic
import httpx
import psycopg
import pytest
from fake_anthropic import Reply
from jupyter_client.blocking import BlockingKernelClient
from policy_fixtures import publish_course, seed_activity, write_course
from server_harness import displayed, notebook
from test_policy import ask, rules

from jupyter_tutor.protocol import COURSES_HEADER, ERROR_CODE_HEADER
from jupyter_tutor.sse import iter_event_data
from jupyter_tutor_hub.dashboard.access import visible_courses
from jupyter_tutor_hub.gateway.auth import Caller
from jupyter_tutor_hub.gateway.courses import choose_course
from jupyter_tutor_hub.gateway.errors import GatewayError

#: What a student's server token holds that matters here (its own groups included).
SCOPES = ["access:services!service=tutor", "custom:tutor:use", "read:users:groups!user"]
#: What a sign-in to the dashboard holds.
INSTRUCTOR_SCOPES = ["access:services!service=tutor", "custom:tutor:instructor"]


@pytest.fixture
async def campus(make_gateway, hub, database_url, tmp_path):
    """Courses A (avoids list comprehensions), B (avoids recursion) and C (avoids
    generators), and four students: ``one`` in A, ``both`` in A and B, ``third`` in C,
    ``none`` in no course (the default course is A)."""
    tag = secrets.token_hex(3)
    a, b, c = f"mc-a-{tag}", f"mc-b-{tag}", f"mc-c-{tag}"
    publish_course(database_url, write_course(tmp_path / "a", name=a), a)
    publish_course(database_url, write_course(tmp_path / "b", name=b, avoid=("recursion",)), b)
    publish_course(database_url, write_course(tmp_path / "c", name=c, avoid=("generators",)), c)
    users = {role: f"mc-{role}-{tag}" for role in ("one", "both", "third", "none")}
    for name in users.values():
        assert hub.api("POST", f"/users/{name}").status_code == 201
    for course, members in ((a, ["one", "both"]), (b, ["both"]), (c, ["third"])):
        response = hub.api(
            "POST", f"/groups/nbgrader-{course}", json={"users": [users[m] for m in members]}
        )
        assert response.status_code == 201, response.text
    gateway = await make_gateway(TutorGateway__default_course=a)
    tokens = {role: hub.token_for(name, SCOPES) for role, name in users.items()}
    return gateway, tokens, a, b, c


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
    gateway, tokens, a, b, _ = campus
    both = gateway.client(tokens["both"])
    await ask(both, context={"notebook_path": "b/week1/loops.ipynb", "course_marker": b})
    asked = rules(fake_upstream)
    assert "recursion" in asked
    assert "list comprehensions" not in asked and "generators" not in asked
    # The third course's student gets C's rules, never A's or B's.
    await ask(gateway.client(tokens["third"]), context={"notebook_path": "week1/loops.ipynb"})
    asked = rules(fake_upstream)
    assert "generators" in asked
    assert "recursion" not in asked and "list comprehensions" not in asked
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
    gateway, tokens, a, b, _ = campus
    response = await post(
        gateway,
        tokens["both"],
        "v1/messages",
        {},
        {
            "model": "claude-sonnet-4-6",
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
    gateway, tokens, a, b, c = campus
    one = tokens["one"]
    response = await post(
        gateway,
        one,
        "v1/messages",
        {"course_marker": b},
        {
            "model": "claude-sonnet-4-6",
            "max_tokens": 50,
            "messages": [{"role": "user", "content": "Show me B's material"}],
        },
    )
    assert response.status_code == 403 and b in response.json()["error"]["message"]
    assert response.headers[ERROR_CODE_HEADER] == "course_forbidden"
    search = await post(gateway, one, "api/search", {"course": b}, {"query": "recursion"})
    assert search.status_code == 403
    # A course named in the body is not read: the search stays in the caller's course.
    body = {"query": "recursion", "course": b}
    search = await post(gateway, one, "api/search", {}, body)
    assert search.status_code == 200 and search.json()["course"] == a
    assert {hit["course"] for hit in search.json()["hits"]} <= {a}
    assert (await get(gateway, one, "api/course", course=b)).status_code == 403
    assert (await get(gateway, one, "api/course", course_marker=b)).status_code == 403
    assert (await get(gateway, one, "api/course")).json()["course"] == a
    # The default course is a fallback for students in no course, not a way around one.
    assert (await get(gateway, tokens["none"], "api/course", course=b)).status_code == 403
    # Two courses of one's own do not open a third.
    assert (await get(gateway, tokens["both"], "api/course", course=c)).status_code == 403
    assert (await get(gateway, tokens["third"], "api/course", course_marker=a)).status_code == 403


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


def _course_folder(tmp_path, name: str, extra: str = "", **kwargs):
    """A test course named ``name`` whose tutor.yaml names no instructor group of the
    session hub (so only ``formgrade-NAME`` makes someone its instructor)."""
    folder = write_course(tmp_path / name, name=name, **kwargs)
    yaml = folder / "tutor.yaml"
    yaml.write_text(yaml.read_text().replace("[instructors]", "[nobody-here]") + extra)
    return folder


async def test_instructors_see_only_the_courses_they_teach(
    make_gateway, hub, database_url, tmp_path
) -> None:
    tag = secrets.token_hex(3)
    a, b = f"mc-a-{tag}", f"mc-b-{tag}"
    for course in (a, b):
        publish_course(database_url, _course_folder(tmp_path, course, read_conversations=True))
        seed_activity(database_url, course)
    teacher = f"mc-teacher-{tag}"
    assert hub.api("POST", f"/users/{teacher}").status_code == 201
    # formgrade-A says which course; the instructors' role gives the scope.
    assert hub.api("POST", f"/groups/formgrade-{a}", json={"users": [teacher]}).status_code == 201
    added = hub.api("POST", "/groups/instructors/users", json={"users": [teacher]})
    assert added.status_code == 200, added.text
    gateway = await make_gateway(TutorGateway__default_course=a)
    teaches = hub.token_for(teacher, INSTRUCTOR_SCOPES)

    async def dashboard(token: str, path: str = "", **params) -> httpx.Response:
        return await get(gateway, token, f"dashboard/{path}", **params)

    def conversation_of(course: str) -> str:
        with psycopg.connect(database_url) as conn:
            return str(
                conn.execute(
                    "SELECT id FROM conversations WHERE course_id = %s LIMIT 1", (course,)
                ).fetchone()[0]
            )

    page = await dashboard(teaches)
    assert page.status_code == 200, page.text
    assert f'value="{a}"' in page.text and f'value="{b}"' not in page.text
    assert (await dashboard(teaches, course=a)).status_code == 200
    theirs, other = conversation_of(a), conversation_of(b)
    assert (await dashboard(teaches, f"conversations/{theirs}", course=a)).status_code == 200
    refused = [
        await dashboard(teaches, course=b),
        await dashboard(teaches, "export/questions.csv", course=b),
        await dashboard(teaches, "export/conversations.csv", course=b),
        await dashboard(teaches, f"conversations/{other}", course=b),
    ]
    assert [r.status_code for r in refused] == [403] * 4
    assert all("NameError" not in r.text for r in refused)
    # B's conversation asked for through A, the course the instructor does teach: not there.
    assert (await dashboard(teaches, f"conversations/{other}", course=a)).status_code == 404
    # The scope alone (a student's dashboard sign-in) teaches nothing.
    student = hub.token_for("student1", ["access:services!service=tutor"])
    assert (await dashboard(student, course=a)).status_code == 403
    # Admins see every course (the hub's admin flag, as the hub reports it).
    groups = gateway.gateway.course_groups
    async with gateway.gateway.pool.connection() as conn:
        listed = await visible_courses(conn, Caller("root", admin=True), a, groups)
        for_teacher = await visible_courses(
            conn,
            Caller(teacher, frozenset({f"formgrade-{a}"}), frozenset(INSTRUCTOR_SCOPES)),
            a,
            groups,
        )
    assert {a, b} <= {c.name for c in listed}
    assert [c.name for c in for_teacher] == [a]


async def test_budget_per_student_per_course(
    make_gateway, hub, database_url, tmp_path, fake_upstream
) -> None:
    """B's tutor.yaml budget counts what the student spent in B only; the operator's
    budget counts everything."""
    tag = secrets.token_hex(3)
    a, b = f"mc-a-{tag}", f"mc-b-{tag}"
    publish_course(database_url, _course_folder(tmp_path, a))
    publish_course(database_url, _course_folder(tmp_path, b, "budget: {daily_tokens: 3000}\n"))
    student = f"mc-budget-{tag}"
    assert hub.api("POST", f"/users/{student}").status_code == 201
    for course in (a, b):
        joined = hub.api("POST", f"/groups/nbgrader-{course}", json={"users": [student]})
        assert joined.status_code == 201
    gateway = await make_gateway(
        TutorGateway__default_course=a,
        Metering__daily_token_budget=7000,
        Metering__prompt_allowance_chars=300,
        Metering__min_output_tokens=50,
    )
    client = gateway.client(hub.token_for(student, SCOPES))
    spend = [Reply.text("ok", input_tokens=1500, output_tokens=1500) for _ in range(3)]
    fake_upstream.script(*spend)
    await ask(client, context={"course": b})
    with pytest.raises(anthropic.RateLimitError) as in_b:
        await ask(client, context={"course": b})
    assert f"budget for the course {b}" in in_b.value.body["error"]["message"]
    assert in_b.value.response.headers[ERROR_CODE_HEADER] == "budget_exceeded"
    await ask(client, context={"course": a})  # A has no budget of its own
    await ask(client, context={"course": a})
    with pytest.raises(anthropic.RateLimitError) as overall:  # 9,000 > the operator's 7,000
        await ask(client, context={"course": a})
    assert "for the course" not in overall.value.body["error"]["message"]
    with psycopg.connect(database_url) as conn:
        rows = dict(
            conn.execute(
                "SELECT course_id, tokens FROM usage_daily_course WHERE user_name = %s",
                (student,),
            ).fetchall()
        )
        total = conn.execute(
            "SELECT tokens FROM usage_daily WHERE user_name = %s", (student,)
        ).fetchone()[0]
    assert rows == {a: 6000, b: 3000} and total == 9000


def _chat(server_url: str, token: str, message: str, context: dict) -> list[dict]:
    """``POST chat`` to a spawned server, as the panel sends it; the events."""
    with httpx.stream(
        "POST",
        server_url + "tutor/api/chat",
        json={"message": message, "context": context},
        headers={"Authorization": f"token {token}"},
        timeout=60,
    ) as response:
        assert response.status_code == 200, response.read()
        return [json.loads(d) for d in iter_event_data(response.iter_lines())]


def test_the_picker_path_through_a_spawned_server(hub, hub_database_url, tmp_path, fake_upstream):
    """A student in two courses, from a notebook whose folder names none: asked to pick
    (panel's chat API and %tutor), the pick answers in that course and is remembered for
    the notebook; a course they are not in is refused and forgotten."""
    tag = secrets.token_hex(3)
    a, b, c = f"mc-a-{tag}", f"mc-b-{tag}", f"mc-c-{tag}"
    publish_course(hub_database_url, write_course(tmp_path / "a", name=a), a)
    publish_course(
        hub_database_url, write_course(tmp_path / "b", name=b, avoid=("recursion",)), b
    )
    user = f"mc-pick-{tag}"
    assert hub.api("POST", f"/users/{user}").status_code == 201
    for course in (a, b):
        joined = hub.api("POST", f"/groups/nbgrader-{course}", json={"users": [user]})
        assert joined.status_code == 201
    home = hub.data_dir / "users" / user
    home.mkdir(parents=True, exist_ok=True)
    for name in ("work.ipynb", "magic.ipynb"):
        (home / name).write_text(json.dumps(notebook("x = 1")))
    hub.start_server(user)
    try:
        server_url = f"{hub.url}/user/{user}/"
        token = hub.token_for(user)
        where = {"notebook_path": "work.ipynb", "cell_index": 0}
        asked = _chat(server_url, token, "Where do I start?", where)
        assert asked[-1]["code"] == "course_choice_required", asked
        assert asked[-1]["courses"] == [a, b]
        fake_upstream.script(*[Reply.text("In your course.") for _ in range(2)])
        picked = _chat(server_url, token, "Where do I start?", where | {"course": b})
        assert picked[-1]["type"] == "done", picked
        assert "recursion" in rules(fake_upstream)
        # Remembered for the notebook: the next question needs no pick.
        again = _chat(server_url, token, "And then?", where)
        assert again[-1]["type"] == "done" and "recursion" in rules(fake_upstream)
        listed = httpx.get(
            server_url + "tutor/api/courses",
            params={"notebook": "work.ipynb"},
            headers={"Authorization": f"token {token}"},
            timeout=30,
        ).json()
        assert [x["name"] for x in listed["courses"]] == [a, b] and listed["picked"] == b
        # A course the student is not in: refused, and the pick is forgotten.
        forged = _chat(server_url, token, "Show me C", where | {"course": c})
        assert forged[-1]["code"] == "course_forbidden"
        assert _chat(server_url, token, "Hello?", where)[-1]["code"] == "course_choice_required"

        # %tutor in a notebook of its own: asked to pick, `%tutor course A` asks again in A.
        session = httpx.post(
            server_url + "api/sessions",
            json={"path": "magic.ipynb", "type": "notebook", "kernel": {"name": "python3"}},
            headers={"Authorization": f"token {token}"},
            timeout=60,
        )
        session.raise_for_status()
        kernel_id = session.json()["kernel"]["id"]
        [connection] = home.rglob(f"kernel-{kernel_id}.json")
        client = BlockingKernelClient()
        client.load_connection_file(str(connection))
        client.start_channels()
        try:
            client.wait_for_ready(timeout=60)
            shown = displayed(client, "%tutor What is a loop?")
            assert "Which course is this notebook for?" in shown and f"`{b}`" in shown
            fake_upstream.script(Reply.text("Loops repeat."))
            shown = displayed(client, f"%tutor course {a}")
            assert "Loops repeat." in shown
            assert "list comprehensions" in rules(fake_upstream)
            assert fake_upstream.requests[-1].body["messages"][-1]["content"]
            listing = displayed(client, "%tutor course")
            assert f"`{a}`" in listing and "← this notebook" in listing
        finally:
            client.stop_channels()
    finally:
        hub.stop_server(user)
