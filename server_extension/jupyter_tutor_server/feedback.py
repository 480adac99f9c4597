"""The bodies of ``POST feedback`` and the query of ``GET course``, checked before they are
forwarded to the gateway (its ``api/feedback`` and ``api/course``).

As with questions, everything here comes from the student's browser or kernel: a bad
field is a :class:`BadRequest` naming the field and what to send instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jupyter_tutor.chat import MAX_COMMENT_CHARS, VOTES
from jupyter_tutor.notebooks import MAX_CELL_INDEX

from .chat_request import BadRequest, parse_conversation_id
from .notebook import NotebookUnavailable, api_path

#: Longest nbformat cell id accepted in ``GET course`` (real ones are 8 to 64 characters).
MAX_CELL_ID_CHARS = 200


def parse_feedback(body: Any) -> dict[str, Any]:
    """The gateway's ``api/feedback`` body from the chat API's, or :class:`BadRequest`."""
    if not isinstance(body, dict):
        raise BadRequest('The body must be a JSON object: {"conversation_id": "…", "vote": "up"}.')
    conversation_id = parse_conversation_id(body.get("conversation_id"))
    if conversation_id is None:
        raise BadRequest("`conversation_id` is required: the conversation of the answer.")
    vote = body.get("vote")
    if not isinstance(vote, str) or vote not in VOTES:
        raise BadRequest(f"`vote` must be one of: {', '.join(VOTES)}.")
    forwarded: dict[str, Any] = {"conversation_id": conversation_id, "vote": vote}
    message_id = body.get("message_id")
    if message_id is not None:
        if not isinstance(message_id, int) or isinstance(message_id, bool) or message_id < 1:
            raise BadRequest(
                "`message_id` must be the integer id of an answer (leave it out for the "
                "conversation's latest answer)."
            )
        forwarded["message_id"] = message_id
    comment = body.get("comment")
    if comment is not None:
        if not isinstance(comment, str):
            raise BadRequest("`comment` must be a string.")
        if len(comment) > MAX_COMMENT_CHARS:
            raise BadRequest(f"`comment` is too long (at most {MAX_COMMENT_CHARS} characters).")
        if comment.strip():
            forwarded["comment"] = comment.strip()
    return forwarded


def parse_course_query(argument: Callable[[str], str | None], root_dir: str) -> dict[str, Any]:
    """The gateway's ``api/course`` query from the chat API's (``argument(name)`` reads one
    query argument), or :class:`BadRequest`.  The notebook path is made relative to the
    server root, as questions send it, so the gateway finds the notebook's policy."""
    params: dict[str, Any] = {}
    notebook = argument("notebook_path")
    if notebook:
        try:
            params["notebook_path"] = api_path(notebook, root_dir)
        except NotebookUnavailable as err:
            raise BadRequest(f"`notebook_path`: {err}") from err
    cell_index = argument("cell_index")
    if cell_index:
        if not (cell_index.isascii() and cell_index.isdigit()):
            raise BadRequest("`cell_index` must be a 0-based cell index (0, 1, 2…).")
        if int(cell_index) >= MAX_CELL_INDEX:
            raise BadRequest(f"`cell_index` must be below {MAX_CELL_INDEX}.")
        params["cell_index"] = int(cell_index)
    cell_id = argument("cell_id")
    if cell_id:
        if len(cell_id) > MAX_CELL_ID_CHARS:
            raise BadRequest(f"`cell_id` is too long (at most {MAX_CELL_ID_CHARS} characters).")
        params["cell_id"] = cell_id
    return params
