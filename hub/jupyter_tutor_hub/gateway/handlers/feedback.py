"""``POST api/feedback``: 👍/👎 or "still stuck" on an answer of the caller's own."""

from __future__ import annotations

from jupyter_tutor.chat import MAX_COMMENT_CHARS, VOTES

from ...policy.feedback import record_feedback
from ..errors import GatewayError, bad_request
from ..store import parse_conversation_id
from .base import GatewayHandler


class FeedbackHandler(GatewayHandler):
    route = "feedback"

    async def post(self) -> None:
        caller = await self.identify()
        body = self.json_body()
        conversation = parse_conversation_id(body.get("conversation_id"))
        if conversation is None:
            raise bad_request("`conversation_id` is required.")
        self.conversation_id = str(conversation)
        vote = body.get("vote")
        if not isinstance(vote, str) or vote not in VOTES:
            raise bad_request(f"`vote` must be one of {', '.join(VOTES)}.")
        message_id = body.get("message_id")
        if message_id is not None and (
            not isinstance(message_id, int) or isinstance(message_id, bool)
        ):
            raise bad_request("`message_id` must be the integer id of an answer.")
        comment = body.get("comment")
        if comment is not None and not isinstance(comment, str):
            raise bad_request("`comment` must be text.")
        comment = (comment or "").strip()[:MAX_COMMENT_CHARS] or None
        async with self.gateway.pool.connection() as conn:
            stored = await record_feedback(
                conn,
                user=caller.name,
                conversation_id=conversation,
                message_id=message_id,
                vote=vote,
                comment=comment,
            )
        if stored is None:
            raise GatewayError("not_found_error", "No such answer in your conversations.")
        self.write_json(stored, status=201)
