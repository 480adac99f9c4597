"""``POST api/search``: course search for the orchestrator's tool (student-visible only).

The course is the question's (``X-Tutor-Context``, as for ``v1/messages``), checked
against the caller's courses: a student searches only courses they are in.
"""

from __future__ import annotations

from jupyter_tutor.protocol import CONTEXT_HEADER

from ..courses import question_course
from ..errors import GatewayError
from ..request import context_header
from .base import GatewayHandler

MAX_K = 20
MAX_QUERY_CHARS = 2000


class SearchHandler(GatewayHandler):
    route = "search"

    async def post(self) -> None:
        caller = await self.identify()
        body = self.json_body()
        query = body.get("query")
        if not isinstance(query, str) or not query.strip():
            raise GatewayError("invalid_request_error", "`query` must be a non-empty string.")
        k = body.get("k", 5)
        if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= MAX_K:
            raise GatewayError("invalid_request_error", f"`k` must be between 1 and {MAX_K}.")
        header = context_header(self.request.headers.get(CONTEXT_HEADER))
        course = await question_course(self.gateway, caller, header)
        hits = await self.gateway.retrieve(course, query[:MAX_QUERY_CHARS], k)
        self.write_json({"course": course, "hits": [hit.to_dict() for hit in hits]})
