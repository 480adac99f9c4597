"""``GET api/courses``: the caller's courses, for the panel's and ``%tutor``'s picker.

Membership comes from the caller's hub groups (``nbgrader-COURSE``, ``formgrade-COURSE``)
and the published courses' instructors; ``default`` is the hub's fallback course, used
when the caller is in none.
"""

from __future__ import annotations

from ...policy.store import load_course_config
from ..courses import caller_courses
from .base import GatewayHandler


class CoursesHandler(GatewayHandler):
    route = "courses"

    async def get(self) -> None:
        caller = await self.identify()
        async with self.gateway.pool.connection() as conn:
            names = sorted(await caller_courses(self.gateway, conn, caller))
            configs = [await load_course_config(conn, name) for name in names]
        self.write_json(
            {
                "courses": [
                    {"name": name, "title": config.display_title if config else name}
                    for name, config in zip(names, configs, strict=True)
                ],
                "default": self.gateway.default_course if not names else None,
            }
        )
