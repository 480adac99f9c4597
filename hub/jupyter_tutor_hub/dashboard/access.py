"""Who sees which course's analytics: its instructors, and the hub's admins.

An instructor of a course holds the ``custom:tutor:instructor`` scope on the token they
present (JupyterHub grants it through a role: the instructors' groups get it statically,
an LTI launch as an instructor gets it from the authenticator) *and* teaches the course:
they are in its ``formgrade-COURSE`` group (nbgrader's convention, ``CourseGroups``), in a
hub group the course names in ``tutor.yaml`` (``instructors.groups``; by default
``instructors`` and ``instructors-<course>``), or listed there by name.  The scope says the
credential may act as an instructor (a server's token never carries it); the groups say of
which course.  Admins see every course.
"""

from __future__ import annotations

from psycopg import AsyncConnection

from ..gateway.auth import Caller
from ..policy.config import CourseConfig
from ..policy.membership import CourseGroups
from ..policy.store import published_courses

INSTRUCTOR_SCOPE = "custom:tutor:instructor"


def instructs(caller: Caller, course: CourseConfig, groups: CourseGroups) -> bool:
    """Whether ``caller`` may see ``course``'s analytics."""
    if caller.admin:
        return True
    if not caller.has_scope(INSTRUCTOR_SCOPE):
        return False
    return groups.instructs(course, caller.name, caller.groups)


async def visible_courses(
    conn: AsyncConnection, caller: Caller, default_course: str, groups: CourseGroups
) -> list[CourseConfig]:
    """The courses ``caller`` instructs, by name.

    Candidates are the published courses, the ingested ones, the gateway's default course
    and the courses of the caller's ``formgrade-COURSE`` groups (a course taught before its
    ``tutor.yaml`` was published still has questions to show).
    """
    courses = {c.name: c for c in await published_courses(conn)}
    cur = await conn.execute("SELECT id FROM courses")
    names = {row[0] for row in await cur.fetchall()}
    names |= groups.taught_courses(caller.groups)
    if default_course:
        names.add(default_course)
    for name in names - courses.keys():
        courses[name] = CourseConfig(name=name)
    return [courses[name] for name in sorted(courses) if instructs(caller, courses[name], groups)]
