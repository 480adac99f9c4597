"""``GET api/usage``: the caller's usage today; admins may ask for anyone's, or all."""

from __future__ import annotations

from psycopg.rows import dict_row

from ..errors import GatewayError
from .base import GatewayHandler


class UsageHandler(GatewayHandler):
    route = "usage"

    async def get(self) -> None:
        caller = await self.identify()
        other = self.get_argument("user", None)
        everyone = self.get_argument("all", None) in ("1", "true")
        if ((other and other != caller.name) or everyone) and not caller.admin:
            raise GatewayError("permission_error", "Only admins can see others' usage.")
        async with self.gateway.pool.connection() as conn:
            if everyone:
                cur = conn.cursor(row_factory=dict_row)
                await cur.execute(
                    "SELECT user_name AS user, sum(tokens)::bigint AS tokens,"
                    " sum(cost_usd)::float AS cost_usd, sum(requests)::bigint AS requests"
                    " FROM usage_daily WHERE day = (now() AT TIME ZONE 'UTC')::date"
                    " GROUP BY user_name ORDER BY user_name"
                )
                self.write_json({"users": await cur.fetchall()})
                return
            self.write_json(await self.gateway.metering.today(conn, other or caller.name))
