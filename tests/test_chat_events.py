"""The chat API's events: defined once (jupyter_tutor.events), documented in
docs/openapi/chat.yaml, and the two agree. Every event the orchestrator emits in the other
tests is checked against the document too (server_harness validates each one it reads)."""

from __future__ import annotations

import jsonschema
import pytest
from chat_contract import schemas, validate_event

from jupyter_tutor import events

SAMPLES = [
    events.ConversationEvent(conversation_id="0f0e0d0c-0b0a-4909-8807-060504030201"),
    events.TextEvent(delta="Try a loop."),
    events.ToolCallEvent(id="toolu_1", name="run_code", input={"code": "1 + 1"}),
    events.ToolResultEvent(id="toolu_1", name="run_code", is_error=False, output="2"),
    events.CitationEvent(course="c", path="a.ipynb", cell=3, heading="Loops", text="..."),
    events.CitationEvent(course="c", path="notes.md", cell=None, heading="Intro", text="..."),
    events.UsageEvent(input_tokens=10, output_tokens=5),
    events.DoneEvent(stop_reason="stopped"),
    events.ErrorEvent(code="rate_limited", message="Wait a minute.", retry_after=60),
    events.ErrorEvent(code="internal", message="Try again."),
]


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: type(e).__name__)
def test_every_event_type_matches_the_document(event: events.ChatEvent) -> None:
    validate_event(event.wire())
    assert events.parse_event(event.wire()) == event


@pytest.mark.parametrize("name", sorted(events.EVENT_TYPES))
def test_fields_are_the_documented_ones(name: str) -> None:
    model = events.EVENT_TYPES[name]
    schema = schemas()[model.__name__]
    assert set(schema["properties"]) == set(model.model_fields)
    optional = {field for field, info in model.model_fields.items() if info.default is None}
    assert set(schema["required"]) == set(model.model_fields) - optional
    assert schema["properties"]["type"]["enum"] == [name]
    documented = {ref["$ref"].rsplit("/", 1)[1] for ref in schemas()["ChatEvent"]["oneOf"]}
    assert model.__name__ in documented


def test_unknown_types_are_skipped_and_broken_ones_refused() -> None:
    assert events.parse_event({"type": "thinking", "delta": "..."}) is None
    with pytest.raises(ValueError, match="Malformed 'text'"):
        events.parse_event({"type": "text"})
    with pytest.raises(jsonschema.ValidationError):
        validate_event({"type": "citation", "course": "c", "path": "p", "heading": "h"})
