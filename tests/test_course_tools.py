"""A course decides which tools the model is offered (``tools:`` in ``tutor.yaml``).

The student's server asks for the tools it has; the gateway strips those the course does
not allow before the model sees the request, so a student cannot switch one back on.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from policy_fixtures import publish_course, write_course

from jupyter_tutor_hub.gateway.tools import strip_disallowed_tools
from jupyter_tutor_hub.policy.config import CourseConfig, read_course

COURSE = "policy-test"
SCOPES = ["access:services!service=tutor", "custom:tutor:use"]


def tool(name: str) -> dict:
    return {"name": name, "description": name, "input_schema": {"type": "object"}}


def course_with_tools(folder: Path, tools_yaml: str) -> Path:
    write_course(folder)
    with (folder / "tutor.yaml").open("a") as f:
        f.write(tools_yaml)
    return folder


def test_tools_are_read_and_checked(tmp_path: Path) -> None:
    tools = "tools: {allow: [search_course, run_code], deny: run_code}\n"
    course = read_course(course_with_tools(tmp_path / "a", tools))
    assert course.errors == []
    assert course.config.tools_allowed == ("search_course", "run_code")
    assert course.config.tools_denied == ("run_code",)
    assert course.config.allows_tool("search_course")
    assert not course.config.allows_tool("run_code")  # deny wins
    assert not course.config.allows_tool("check_exercise")  # not on the allow-list
    assert CourseConfig.from_json(course.config.to_json()) == course.config

    default = read_course(write_course(tmp_path / "b")).config
    assert default.tools_allowed is None and default.allows_tool("anything")

    bad = read_course(
        course_with_tools(tmp_path / "c", "tools: {alow: [run_code], deny: ['run code']}\n")
    )
    messages = [str(p) for p in bad.problems]
    assert any("unknown key 'alow' in 'tools' (did you mean 'allow'?)" in m for m in messages)
    assert any("'run code', which is not a tool name" in m for m in messages)
    assert bad.errors


@pytest.mark.parametrize(
    ("allowed", "denied", "choice", "kept", "choice_after"),
    [
        (None, (), {"type": "tool", "name": "run_code"}, ["search_course", "run_code"], "same"),
        (None, ("run_code",), {"type": "tool", "name": "run_code"}, ["search_course"], None),
        (("search_course",), (), {"type": "auto"}, ["search_course"], "same"),
        ((), (), {"type": "any"}, None, None),
    ],
)
def test_stripping_keeps_only_allowed_tools(allowed, denied, choice, kept, choice_after) -> None:
    params = {
        "tools": [tool("search_course"), tool("run_code"), "junk"],
        "tool_choice": dict(choice),
    }
    course = CourseConfig(name="c", tools_allowed=allowed, tools_denied=denied)
    strip_disallowed_tools(params, course)
    if allowed is None and not denied:
        assert params["tools"][-1] == "junk"  # no rule: the request is left as it came
        return
    assert [t["name"] for t in params.get("tools", [])] == (kept or [])
    expected = choice if choice_after == "same" else choice_after
    assert params.get("tool_choice") == expected


async def test_a_disallowed_tool_never_reaches_the_model(
    make_gateway, hub, database_url, fake_upstream, tmp_path
) -> None:
    folder = course_with_tools(tmp_path / "course", "tools:\n  deny: [run_code]\n")
    publish_course(database_url, folder, COURSE)
    gateway = await make_gateway(TutorGateway__default_course=COURSE)
    client = gateway.client(hub.token_for("student1", SCOPES))
    # The student's server asks for run_code, and even insists the model use it.
    await client.messages.create(
        model="claude-sonnet-4-6",
        max_tokens=100,
        messages=[{"role": "user", "content": "Run my code please"}],
        tools=[tool("search_course"), tool("run_code")],
        tool_choice={"type": "tool", "name": "run_code"},
    )
    sent = fake_upstream.requests[-1].body
    assert [t["name"] for t in sent["tools"]] == ["search_course"]
    assert "tool_choice" not in sent
    assert "run_code" not in str(sent["system"])
