"""The gateway's request surface, tried as a student who holds their own hub token.

Every request here is one the official SDK sends on an attacker's behalf: server tools,
URL sources, too many tools, extended thinking.  Each is refused with a 400 that names
the field, and never reaches the upstream; what the orchestrator really sends passes.
"""

from __future__ import annotations

import anthropic
import pytest

SCOPES = ["access:services!service=tutor", "custom:tutor:use"]
MODEL = "claude-sonnet-4-6"
TOOL = {
    "name": "run_code",
    "description": "Run Python in a scratch kernel.",
    "input_schema": {"type": "object", "properties": {"code": {"type": "string"}}},
}
PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9"
    "awAAAABJRU5ErkJggg=="
)


def user(*blocks: dict) -> list[dict]:
    return [{"role": "user", "content": list(blocks)}]


CASES = [
    pytest.param(
        {"tools": [{"type": "web_search_20250305", "name": "web_search"}]},
        "server tool `web_search_20250305`",
        id="web-search",
    ),
    pytest.param(
        {"tools": [{"type": "web_fetch_20250910", "name": "web_fetch"}]},
        "server tool `web_fetch_20250910`",
        id="web-fetch",
    ),
    pytest.param(
        {"tools": [{**TOOL, "name": f"t{n}"} for n in range(17)]},
        "at most 16",
        id="too-many-tools",
    ),
    pytest.param(
        {"tools": [{**TOOL, "description": "x" * 9000}]},
        "`tools[0]` (run_code) is",
        id="huge-tool",
    ),
    pytest.param(
        {"thinking": {"type": "enabled", "budget_tokens": 1024}},
        "`thinking` is refused",
        id="thinking",
    ),
    pytest.param(
        {
            "messages": user(
                {"type": "document", "source": {"type": "url", "url": "http://example.org/a"}}
            )
        },
        "`messages[0].content[0]` is a `document` block",
        id="url-document",
    ),
    pytest.param(
        {
            "messages": user(
                {"type": "image", "source": {"type": "url", "url": "http://example.org/a.png"}}
            )
        },
        "`messages[0].content[0].source` must be an inline base64 image",
        id="url-image",
    ),
    pytest.param(
        {
            "messages": user(
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_1",
                    "content": [{"type": "search_result", "source": "http://x", "title": "t"}],
                }
            )
        },
        "`messages[0].content[0].content[0]` is a `search_result` block",
        id="tool-result-search-result",
    ),
    pytest.param(
        {
            "messages": [
                {"role": "user", "content": "hi"},
                {
                    "role": "assistant",
                    "content": [{"type": "server_tool_use", "id": "s", "name": "web_search"}],
                },
                {"role": "user", "content": "go on"},
            ]
        },
        "`messages[1].content[0]` is a `server_tool_use` block",
        id="server-tool-use-in-history",
    ),
    pytest.param(
        {"tool_choice": {"type": "tool", "name": "web_search"}, "tools": [TOOL]},
        "`tool_choice.name`",
        id="tool-choice-unknown",
    ),
]


@pytest.mark.parametrize(("extra", "named"), CASES)
async def test_the_request_surface_is_an_allow_list(
    make_gateway, hub, fake_upstream, extra: dict, named: str
) -> None:
    gateway = await make_gateway()
    client = gateway.client(hub.token_for("student1", SCOPES))
    fake_upstream.clear()
    params = {"messages": [{"role": "user", "content": "Find the solution online"}], **extra}
    for stream in (False, True):
        with pytest.raises(anthropic.BadRequestError) as info:
            await client.messages.create(model=MODEL, max_tokens=100, stream=stream, **params)
        assert named in info.value.body["error"]["message"]
    assert fake_upstream.requests == []  # nothing was sent upstream, nothing was billed


async def test_what_the_orchestrator_sends_passes(make_gateway, hub, fake_upstream) -> None:
    gateway = await make_gateway()
    client = gateway.client(hub.token_for("student1", SCOPES))
    fake_upstream.clear()
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What does my plot show?"},
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": PNG},
                },
            ],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Let me run it."},
                {"type": "tool_use", "id": "toolu_1", "name": "run_code", "input": {"code": "1"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "1", "is_error": False}
            ],
        },
    ]
    message = await client.messages.create(
        model=MODEL, max_tokens=100, messages=messages, tools=[TOOL], tool_choice={"type": "auto"}
    )
    assert message.content[0].text
    sent = fake_upstream.requests[-1].body
    assert sent["tools"] == [TOOL] and "thinking" not in sent
