"""Course membership from the LMS: LTI 1.3 launches from a fake platform (issue 16).

A real JupyterHub with the tutor's LTI 1.3 authenticator (``tutor-lti13``) and its
gateway; the platform in ``fake_lti.py`` signs launches with its own key.  A learner's
launch from course B puts the user in B's student group and the gateway answers them in
B; an instructor's puts them in B's instructor group; a second course's launch adds to the
first.  Forged, misaddressed, expired and replayed launches create no user and no group.
"""

from __future__ import annotations

import secrets
import time

import anthropic
import httpx
import psycopg
import pytest
from fake_anthropic import Reply
from fake_lti import (
    CLIENT_ID,
    DEPLOYMENT_ID,
    INSTRUCTOR,
    ISSUER,
    LEARNER,
    FakeLTIPlatform,
    Launch,
    new_key,
)
from hub_harness import start_hub
from policy_fixtures import publish_course, write_course
from test_policy import ask, rules

from jupyter_tutor_hub.db import migrate
from jupyter_tutor_hub.lti import LTI13CourseAuthenticator, course_name_from_label

pytestmark = pytest.mark.slow

#: A student's server token, as the panel holds it (its own groups included).
SCOPES = ["access:services!service=tutor", "custom:tutor:use", "read:users:groups!user"]
COURSE_B = "lti-course-b"
COURSE_C = "lti-course-c"
CONTEXT = "https://purl.imsglobal.org/spec/lti/claim/context"


@pytest.fixture(scope="module")
def platform():
    running = FakeLTIPlatform()
    yield running
    running.close()


@pytest.fixture(scope="module")
def lti_hub(tmp_path_factory, pg_server, fake_anthropic, platform):
    """A hub whose users come from the fake platform, with courses B and C published."""
    data_dir = tmp_path_factory.mktemp("lti-hub")
    url = pg_server.create_database("lti_hub")
    with psycopg.connect(url, autocommit=True) as conn:
        migrate(conn)
    for name, avoid in ((COURSE_B, "recursion"), (COURSE_C, "decorators")):
        publish_course(url, write_course(data_dir / name, name=name, avoid=(avoid,)), name)
    config = data_dir / "lti_config.py"
    # What an admin writes (docs/deploy.md); the role's groups name course C's instructor
    # group too, which a launch into B must not give.
    config.write_text(
        "from jupyter_tutor_hub.hubconfig import apply_lti13_config\n"
        "apply_lti13_config(\n"
        f"    c, issuer={ISSUER!r}, client_id={CLIENT_ID!r}, deployment_ids=[{DEPLOYMENT_ID!r}],\n"
        f"    authorize_url={platform.url + '/authorize'!r},\n"
        f"    jwks_endpoint={platform.url + '/jwks'!r},\n"
        f"    env={{'TUTOR_INSTRUCTOR_GROUPS': 'instructors,formgrade-{COURSE_C}'}},\n"
        ")\n"
    )
    hub = start_hub(
        data_dir,
        database_url=url,
        upstream_url=fake_anthropic.url,
        api_key=fake_anthropic.api_key,
        extra_env={"TUTOR_TEST_HUB_CONFIG": str(config)},
    )
    yield hub
    hub.stop()


def groups_of(hub, name: str) -> list[str] | None:
    """The user's hub groups, or None when the hub has no such user."""
    response = hub.api("GET", f"/users/{name}")
    return None if response.status_code == 404 else sorted(response.json()["groups"])


def someone() -> str:
    return f"lti-{secrets.token_hex(3)}"


async def test_a_learner_lands_in_the_course_and_is_answered_in_it(
    lti_hub, platform, fake_upstream
):
    name = someone()
    done = platform.launch(lti_hub.url, Launch(sub=name, label="LTI Course B", roles=[LEARNER]))
    assert done.status_code == 302, done.text
    assert groups_of(lti_hub, name) == [f"nbgrader-{COURSE_B}"]
    token = lti_hub.token_for(name, SCOPES)
    listed = httpx.get(
        lti_hub.gateway_url + "api/courses",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    ).json()
    assert [c["name"] for c in listed["courses"]] == [COURSE_B]
    # The gateway resolves the question's course from those groups: B's policy, not C's.
    fake_upstream.script(Reply.text("In course B."))
    client = anthropic.AsyncAnthropic(
        base_url=lti_hub.gateway_url.rstrip("/"), auth_token=token, max_retries=0
    )
    answer, _ = await ask(client)
    assert answer == "In course B."
    assert "recursion" in rules(fake_upstream) and "decorators" not in rules(fake_upstream)


def test_an_instructor_lands_in_the_instructor_group(lti_hub, platform) -> None:
    name = someone()
    done = platform.launch(lti_hub.url, Launch(sub=name, label="LTI Course B", roles=[INSTRUCTOR]))
    assert done.status_code == 302, done.text
    assert groups_of(lti_hub, name) == [f"formgrade-{COURSE_B}", "instructors"]


def test_a_second_course_adds_to_the_first(lti_hub, platform) -> None:
    name = someone()
    for label in ("LTI Course B", "LTI Course C", "LTI Course B"):
        done = platform.launch(lti_hub.url, Launch(sub=name, label=label, roles=[LEARNER]))
        assert done.status_code == 302, done.text
    assert groups_of(lti_hub, name) == [f"nbgrader-{COURSE_B}", f"nbgrader-{COURSE_C}"]
    # Made a TA in C: C's student group gives way to its instructor group, B's stays.
    platform.launch(lti_hub.url, Launch(sub=name, label="LTI Course C", roles=[INSTRUCTOR]))
    assert groups_of(lti_hub, name) == [
        f"formgrade-{COURSE_C}",
        "instructors",
        f"nbgrader-{COURSE_B}",
    ]


@pytest.mark.parametrize(
    "attack",
    [
        {"signing_key": "another"},
        {"tamper": {"aud": "another-tool"}},
        {"tamper": {"azp": "another-tool"}},
        {"tamper": {"iss": "https://evil.example.test"}},
        {"tamper": {"exp": int(time.time()) - 60}},
        {"tamper": {"iat": int(time.time()) - 3600, "exp": int(time.time()) + 60}},
        {"tamper": {"https://purl.imsglobal.org/spec/lti/claim/deployment_id": "other"}},
        {"tamper": {"nonce": "not-the-hubs-nonce"}},
        {"edit_after_signing": {CONTEXT: {"id": "LTI Course C", "label": "LTI Course C"}}},
    ],
    ids=[
        "forged",
        "audience",
        "azp",
        "issuer",
        "expired",
        "too-old",
        "deployment",
        "nonce",
        "context-edited",
    ],
)
def test_a_bad_launch_creates_no_user_and_no_group(lti_hub, platform, attack) -> None:
    name = someone()
    if attack.get("signing_key"):
        attack = {"signing_key": new_key()}
    done = platform.launch(
        lti_hub.url, Launch(sub=name, label="LTI Course B", roles=[INSTRUCTOR], **attack)
    )
    assert done.status_code in (400, 401, 403), done.text
    assert groups_of(lti_hub, name) is None


def test_a_replayed_launch_is_refused(lti_hub, platform) -> None:
    name = someone()
    first, second = platform.replay(
        lti_hub.url, Launch(sub=name, label="LTI Course B", roles=[LEARNER])
    )
    assert first.status_code == 302, first.text
    assert second.status_code == 400 and "used already" in second.text


def test_course_names_from_lms_labels() -> None:
    assert course_name_from_label("Intro Python 101") == "intro-python-101"
    assert course_name_from_label("  CS-50 / Fall ") == "cs-50-fall"
    assert course_name_from_label("日本語") is None
    auth = LTI13CourseAuthenticator(course_map={"ctx-9": "data-python"}, map_only=True)
    assert auth.course_of({CONTEXT: {"id": "ctx-9", "label": "Whatever"}}) == "data-python"
    assert auth.course_of({CONTEXT: {"id": "ctx-1", "label": "Other"}}) is None
