"""The two ways something goes wrong while answering, each written for its reader.

A :class:`ChatError` ends the answer: its message is shown to the student.  A
:class:`ToolError` ends only a tool call: its message goes back to the model as an
``is_error`` tool result, and the answer goes on.
"""

from __future__ import annotations

from jupyter_tutor import events

_STATUS_OF_CODE = {
    "bad_request": 400,
    "unauthorized": 403,
    "budget_exceeded": 429,
    "rate_limited": 429,
    "unavailable": 503,
    "upstream": 502,
    "internal": 500,
    "course_choice_required": 409,
    "course_forbidden": 403,
}


class ChatError(Exception):
    """An answer failed; ``message`` is written for the student, ``code`` for clients."""

    def __init__(
        self,
        code: events.ErrorCode,
        message: str,
        retry_after: int | None = None,
        status: int | None = None,
        courses: list[str] | None = None,
    ) -> None:
        super().__init__(message)
        #: The student's courses, when the question's course must be picked among them.
        self.courses = courses
        self.code = code
        self.message = message
        self.retry_after = retry_after
        #: The HTTP status when the error refuses a request (not when it ends a stream);
        #: by default the code's usual status.
        self.status = status or _STATUS_OF_CODE.get(code, 500)

    def event(self) -> events.ErrorEvent:
        """The ``error`` event of the chat API."""
        return events.ErrorEvent(
            code=self.code, message=self.message, retry_after=self.retry_after, courses=self.courses
        )


class ToolError(Exception):
    """A tool could not do its job; the message tells the model what happened."""
