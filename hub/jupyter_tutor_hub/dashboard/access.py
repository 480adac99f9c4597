"""Who sees which course's analytics: its instructors, and the hub's admins.

An instructor of a course holds the ``custom:tutor:instructor`` scope on the token they
present (JupyterHub grants it through a role, to the instructors' groups) *and* belongs
to one of the hub groups the course names in ``tutor.yaml`` (``instructors.groups``;
by default ``instructors`` and ``instructors-<course>``) or is listed by name.  The scope
says the credential may act as an instructor; the group says of which course.
"""

from __future__ import annotations

from psycopg import AsyncConnection

from ..gateway.auth import Caller
from ..policy.config import CourseConfig
from ..policy.store import published_courses

INSTRUCTOR_SCOPE = "custom:tutor:instructor"


def instructs(caller: Caller, course: CourseConfig) -> bool:
    """Whether ``caller`` may see ``course``'s analytics."""
    if caller.admin:
        return True
    if not caller.has_scope(INSTRUCTOR_SCOPE):
        return False
    return course.instructed_by(caller.name, caller.groups)


async def visible_courses(
    conn: AsyncConnection, caller: Caller, default_course: str
) -> list[CourseConfig]:
    """The courses ``caller`` instructs: published ones, and the gateway's default course."""
    courses = {c.name: c for c in await published_courses(conn)}
    if default_course and default_course not in courses:
        courses[default_course] = CourseConfig(name=default_course)
    return [course for course in courses.values() if instructs(caller, course)]
