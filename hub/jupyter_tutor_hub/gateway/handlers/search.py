"""``POST api/search``: course search for the orchestrator's tool (student-visible only)."""

from __future__ import annotations

from ..errors import GatewayError
from .base import GatewayHandler

MAX_K = 20
MAX_QUERY_CHARS = 2000


class SearchHandler(GatewayHandler):
    route = "search"

    async def post(self) -> None:
        await self.identify()
        body = self.json_body()
        query = body.get("query")
        if not isinstance(query, str) or not query.strip():
            raise GatewayError("invalid_request_error", "`query` must be a non-empty string.")
        k = body.get("k", 5)
        if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= MAX_K:
            raise GatewayError("invalid_request_error", f"`k` must be between 1 and {MAX_K}.")
        course = self.gateway.default_course
        hits = await self.gateway.retrieve(course, query[:MAX_QUERY_CHARS], k)
        self.write_json({"course": course, "hits": [hit.to_dict() for hit in hits]})
