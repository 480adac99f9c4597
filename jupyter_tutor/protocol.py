"""What the gateway adds to the Messages API, shared by both ends of the trust boundary.

The orchestrator (student's server) and the gateway (hub side) speak the Anthropic
Messages API; these headers carry what the tutor needs on top of it.  Only names and the
citations' encoding live here: everything that decides anything stays in the gateway.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from typing import Any

#: Request and response: which conversation a turn belongs to.
CONVERSATION_HEADER = "X-Tutor-Conversation-Id"
#: Request: where the student is (JSON: notebook path, cell, kind). Informative only.
CONTEXT_HEADER = "X-Tutor-Context"
#: Response: the course passages the gateway grounded the answer in.
CITATIONS_HEADER = "X-Tutor-Citations"
#: Response: ``none`` when the model that answered cannot call tools (the orchestrator then
#: stops offering them); absent otherwise.
TOOLS_HEADER = "X-Tutor-Tools"
#: Error responses: which tutor limit refused the request (``budget_exceeded``…), where
#: Anthropic's error type alone cannot say.
ERROR_CODE_HEADER = "X-Tutor-Error-Code"
#: Error responses with code ``course_choice_required``: the caller's courses (JSON list),
#: among which the student picks.
COURSES_HEADER = "X-Tutor-Courses"
#: The file ``jupyter-tutor course release`` writes at the top of a released course folder;
#: its first line is the course's name.  The student's server reports the one above the
#: notebook (``course_marker`` in :data:`CONTEXT_HEADER`); the gateway checks membership.
COURSE_MARKER_FILE = ".tutor-course"


def retry_after_seconds(headers: Mapping[str, str] | None) -> int | None:
    """Whole seconds from a ``retry-after`` header (at least 1), or ``None`` without one."""
    value = headers.get("retry-after") if headers is not None else None
    try:
        return max(1, int(float(value))) if value else None
    except ValueError:
        return None


def encode_citations(items: Sequence[Mapping[str, Any]]) -> str:
    """Passages as the value of :data:`CITATIONS_HEADER` (base64url JSON)."""
    return base64.urlsafe_b64encode(json.dumps(list(items)).encode()).decode()


def decode_citations(value: str | None) -> list[dict[str, Any]]:
    """The passages of a :data:`CITATIONS_HEADER` value; nothing for a missing or bad one."""
    if not value:
        return []
    try:
        items = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    except ValueError:
        return []
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []
