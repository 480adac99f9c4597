"""``GET api/conversations`` and ``GET api/conversations/{id}``: the caller's own only."""

from __future__ import annotations

from ..store import parse_conversation_id
from .base import GatewayHandler


class ConversationListHandler(GatewayHandler):
    route = "conversations"

    async def get(self) -> None:
        caller = await self.identify()
        async with self.gateway.pool.connection() as conn:
            items = await self.gateway.store.list_conversations(conn, caller.name)
        self.write_json({"conversations": items})


class ConversationHandler(GatewayHandler):
    route = "conversation"

    async def get(self, conversation_id: str) -> None:
        caller = await self.identify()
        key = parse_conversation_id(conversation_id)
        assert key is not None  # the route matches a non-empty id
        self.conversation_id = conversation_id
        async with self.gateway.pool.connection() as conn:
            conversation = await self.gateway.store.get_conversation(conn, caller.name, key)
        self.write_json(conversation)
