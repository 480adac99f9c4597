"""The instructors' dashboard: who may see what, with real hub tokens, and what it shows.

An in-process gateway (``make_gateway``) serves a database seeded with a fortnight of a
small class (tests/policy_fixtures.py); callers are identified by the session's real
JupyterHub: ``instructor1`` (group ``instructors``) and ``student1..3``.
"""

from __future__ import annotations

import csv
import io

import httpx
import psycopg
import pytest
from policy_fixtures import publish_course, seed_activity, write_course

OPEN = "ds-101"  # instructors may read conversations
PRIVATE = "ds-private"  # they may not
OTHER = "other-course"  # instructed by another group
ACCESS = "access:services!service=tutor"
TABLES = (
    "questions",
    "errors",
    "attention",
    "students",
    "days",
    "votes",
    "comments",
    "conversations",
    "adoption",
)


@pytest.fixture
async def dashboard(make_gateway, hub, database_url, tmp_path):
    """A gateway with three published courses, two of them with a term of activity."""
    publish_course(database_url, write_course(tmp_path / "a", read_conversations=True), OPEN)
    publish_course(database_url, write_course(tmp_path / "b"), PRIVATE)
    other = write_course(tmp_path / "c")
    text = (other / "tutor.yaml").read_text().replace("[instructors]", "[instructors-other]")
    (other / "tutor.yaml").write_text(text)
    publish_course(database_url, other, OTHER)
    seed_activity(database_url, OPEN)
    seed_activity(database_url, PRIVATE)
    gateway = await make_gateway(TutorGateway__default_course=OPEN)
    async with httpx.AsyncClient(base_url=gateway.url + "/", timeout=30) as http:
        yield http


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"token {token}"}


async def _a_conversation(http, token: str, course: str, student: str = "student1") -> str:
    page = await http.get(
        "dashboard/export/conversations.csv", params={"course": course}, headers=_auth(token)
    )
    rows = csv.DictReader(io.StringIO(page.text))
    return next(row["conversation"] for row in rows if row["student"] == student)


async def test_instructors_see_their_course(dashboard, hub) -> None:
    token = hub.token_for("instructor1", [ACCESS, "custom:tutor:instructor"])
    page = await dashboard.get("dashboard/", params={"course": OPEN}, headers=_auth(token))
    assert page.status_code == 200, page.text
    html = page.text
    for heading in (
        "Questions per notebook and cell",
        "Most frequent errors",
        "Students who may need help",
        "Tokens and cost per student",
        "Use per day",
        "Helpfulness votes",
        "Recent conversations",
    ):
        assert heading in html
    assert html.count("<svg") >= 5
    assert "<figcaption>Questions per day</figcaption>" in html  # chart titles are visible
    assert "NameError" in html and "student1" in html
    assert "Policy test course" in html
    assert OTHER not in html  # not in the course menu either
    for name in TABLES:
        export = await dashboard.get(
            f"dashboard/export/{name}.csv", params={"course": OPEN}, headers=_auth(token)
        )
        assert export.status_code == 200, (name, export.text)
        assert export.headers["content-type"].startswith("text/csv")
        assert f'filename="{OPEN}-{name}-30d.csv"' in export.headers["content-disposition"]
        assert export.text.splitlines()[0]  # a header row at least
    attention = await dashboard.get(
        "dashboard/export/attention.csv", params={"course": OPEN}, headers=_auth(token)
    )
    flagged = list(csv.DictReader(io.StringIO(attention.text)))
    why = {(row["student"], row["exercise"]): row["why"] for row in flagged}
    assert "NameError 6 times" in why["student1", "Exercise 1"]  # the same error again
    assert why["student2", "Exercise 1"] == "10 questions"
    assert "student3" not in attention.text  # never asked
    conversation = await _a_conversation(dashboard, token, OPEN)
    shown = await dashboard.get(
        f"dashboard/conversations/{conversation}", params={"course": OPEN}, headers=_auth(token)
    )
    assert shown.status_code == 200 and "Look at the loop variable." in shown.text


async def test_privacy_keeps_conversations_from_instructors(dashboard, hub) -> None:
    token = hub.token_for("instructor1", [ACCESS, "custom:tutor:instructor"])
    conversation = await _a_conversation(dashboard, token, OPEN)
    page = await dashboard.get("dashboard/", params={"course": PRIVATE}, headers=_auth(token))
    assert page.status_code == 200
    assert "Recent conversations" not in page.text
    assert "Conversations are private in this course" in page.text
    rows = await dashboard.get(
        "dashboard/export/conversations.csv", params={"course": PRIVATE}, headers=_auth(token)
    )
    assert rows.text.strip().count("\n") == 0  # the header only
    comments = await dashboard.get(
        "dashboard/export/comments.csv", params={"course": PRIVATE}, headers=_auth(token)
    )
    assert "conversation" not in comments.text.splitlines()[0]
    for course in (PRIVATE, OPEN):  # one of OPEN's conversations, asked through PRIVATE too
        shown = await dashboard.get(
            f"dashboard/conversations/{conversation}",
            params={"course": course},
            headers=_auth(token),
        )
        if course == PRIVATE:
            assert shown.status_code == 403 and "private" in shown.text


async def test_consent_is_the_privacy_told_when_the_conversation_began(
    make_gateway, hub, database_url, tmp_path
) -> None:
    """Switching ``instructors_read_conversations`` on exposes only conversations begun
    after it (the students were told); switching it off hides every one again."""
    course = "consent-course"
    folder = tmp_path / "consent"
    publish_course(database_url, write_course(folder), course)
    gateway = await make_gateway(TutorGateway__default_course=course)
    scopes = [ACCESS, "custom:tutor:use"]

    async def ask(student: str) -> str:
        stream = await gateway.client(hub.token_for(student, scopes)).messages.create(
            model="claude-sonnet-4-6",
            max_tokens=100,
            stream=True,
            messages=[{"role": "user", "content": f"Why does my loop fail, {student}?"}],
        )
        async for _ in stream:
            pass
        return stream.response.headers["x-tutor-conversation-id"]

    private = await ask("student1")  # told: instructors cannot read it
    publish_course(database_url, write_course(folder, read_conversations=True), course)
    consented = await ask("student2")  # told: instructors can read it
    with psycopg.connect(database_url) as conn:
        recorded = dict(
            conn.execute(
                "SELECT id::text, instructors_may_read FROM conversations WHERE course_id = %s",
                (course,),
            ).fetchall()
        )
    assert recorded == {private: False, consented: True}

    token = hub.token_for("instructor1", [ACCESS, "custom:tutor:instructor"])
    async with httpx.AsyncClient(base_url=gateway.url + "/", timeout=30) as http:
        listed = await http.get(
            "dashboard/export/conversations.csv", params={"course": course}, headers=_auth(token)
        )
        assert consented in listed.text and private not in listed.text
        page = await http.get("dashboard/", params={"course": course}, headers=_auth(token))
        assert consented in page.text and private not in page.text
        shown = {
            key: await http.get(
                f"dashboard/conversations/{key}", params={"course": course}, headers=_auth(token)
            )
            for key in (private, consented)
        }
        assert shown[consented].status_code == 200, shown[consented].text
        assert shown[private].status_code == 404
        publish_course(database_url, write_course(folder), course)  # private again
        again = await http.get(
            f"dashboard/conversations/{consented}", params={"course": course}, headers=_auth(token)
        )
        assert again.status_code == 403


async def test_every_dashboard_route_checks_the_role(dashboard, hub) -> None:
    instructor = hub.token_for("instructor1", [ACCESS, "custom:tutor:instructor"])
    conversation = await _a_conversation(dashboard, instructor, OPEN)
    routes = [
        "dashboard/",
        *(f"dashboard/export/{name}.csv" for name in TABLES),
        f"dashboard/conversations/{conversation}",
    ]
    callers = {
        # A token without the instructor scope (e.g. the instructor's own server's token).
        "instructor without the scope": hub.token_for("instructor1", [ACCESS]),
        "student": hub.token_for("student1", [ACCESS, "custom:tutor:use"]),
        "another student": hub.token_for("student2", [ACCESS]),
    }
    for route in routes:
        for who, token in callers.items():
            refused = await dashboard.get(route, params={"course": OPEN}, headers=_auth(token))
            assert refused.status_code == 403, (route, who, refused.status_code)
            assert "NameError" not in refused.text and "Look at the loop" not in refused.text
        other = await dashboard.get(route, params={"course": OTHER}, headers=_auth(instructor))
        assert other.status_code == 403, route
        anonymous = await dashboard.get(route, params={"course": OPEN})
        assert anonymous.status_code == 302  # to the hub's sign-in
        assert "oauth2/authorize" in anonymous.headers["location"]
        forged = await dashboard.get(route, params={"course": OPEN}, headers=_auth("forged"))
        assert forged.status_code == 401
    unknown = await dashboard.get(
        "dashboard/export/passwords.csv", params={"course": OPEN}, headers=_auth(instructor)
    )
    assert unknown.status_code == 404
    bad_days = await dashboard.get(
        "dashboard/", params={"course": OPEN, "days": "forever"}, headers=_auth(instructor)
    )
    assert bad_days.status_code == 400
    week = await dashboard.get(
        "dashboard/export/days.csv", params={"course": OPEN, "days": 7}, headers=_auth(instructor)
    )
    assert len(week.text.strip().splitlines()) == 1 + 7


async def test_students_see_only_their_own(dashboard, hub) -> None:
    student = _auth(hub.token_for("student2", [ACCESS, "custom:tutor:use"]))
    instructor = hub.token_for("instructor1", [ACCESS, "custom:tutor:instructor"])
    theirs = await _a_conversation(dashboard, instructor, OPEN, "student1")
    mine = await _a_conversation(dashboard, instructor, OPEN, "student2")
    listed = {
        c["id"]
        for c in (await dashboard.get("api/conversations", headers=student)).json()["conversations"]
    }
    assert mine in listed and theirs not in listed
    assert (await dashboard.get(f"api/conversations/{theirs}", headers=student)).status_code == 404
    assert (await dashboard.get(f"api/conversations/{mine}", headers=student)).status_code == 200
    for params in ({"all": "1"}, {"user": "student1"}):
        refused = await dashboard.get("api/usage", params=params, headers=student)
        assert refused.status_code == 403
    course = await dashboard.get("api/course", headers=student)
    assert course.status_code == 200
    assert course.json()["privacy"]["instructors_read_conversations"] is True
