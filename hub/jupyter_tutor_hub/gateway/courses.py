"""Which course a question belongs to, decided hub-side.

The student's server reports the course marker it found above the notebook (written by
``jupyter-tutor course release``) and, after the student picked one, the course they chose.
Neither is trusted: the gateway intersects them with the caller's courses, which come from
the caller's hub groups (``policy/membership.py``).

- a requested or marked course the caller is not in → 403 ``course_forbidden``;
- a requested course the caller is in → it (the student's choice wins over the marker);
- a marked course the caller is in → it;
- else one course → it; none → the gateway's default course (a single-course hub);
  several → 409 ``course_choice_required``, listing them, so the panel and ``%tutor``
  ask the student to pick.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from jupyter_tutor.protocol import COURSES_HEADER, ERROR_CODE_HEADER

from ..policy.config import CourseConfig, is_course_name
from ..policy.store import published_courses
from .auth import Caller
from .errors import GatewayError


def _named(value: Any) -> str | None:
    return value if isinstance(value, str) and is_course_name(value) else None


def reported_courses(context: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """``(requested, marker)`` from ``X-Tutor-Context`` (malformed names are ignored)."""
    return _named(context.get("course")), _named(context.get("course_marker"))


def choose_course(
    members: Iterable[str],
    *,
    requested: str | None,
    marker: str | None,
    default: str,
    admin: bool = False,
) -> str:
    """The course of a question (see the module's docstring); raises :class:`GatewayError`."""
    members = set(members)
    fallback = {default} if default and not members else set()
    for wanted in (requested, marker):
        if not wanted:
            continue
        if wanted in members or wanted in fallback or admin:
            return wanted
        raise GatewayError(
            "permission_error",
            f"You are not enrolled in the course '{wanted}', so the tutor cannot answer "
            "about it. Ask your instructor to add you, or pick one of your courses.",
            headers={ERROR_CODE_HEADER: "course_forbidden"},
        )
    if len(members) == 1:
        return next(iter(members))
    if not members:
        return default
    raise GatewayError(
        "invalid_request_error",
        "You are in several courses and this notebook does not say which one it belongs "
        "to: pick the course to ask about.",
        status=409,
        headers={
            ERROR_CODE_HEADER: "course_choice_required",
            COURSES_HEADER: json.dumps(sorted(members)),
        },
    )


async def caller_courses(gateway: Any, conn: Any, caller: Caller) -> set[str]:
    """The courses ``caller`` belongs to, from their hub groups and the published courses."""
    published = await published_courses(conn)
    return gateway.course_groups.member_courses(caller.name, caller.groups, published)


def course_of(
    gateway: Any,
    caller: Caller,
    context: Mapping[str, Any],
    published: Sequence[CourseConfig],
) -> str:
    """The course a question from ``caller`` with ``X-Tutor-Context`` ``context`` is in,
    given the published courses (read by the caller, with other work on one connection)."""
    requested, marker = reported_courses(context)
    return choose_course(
        gateway.course_groups.member_courses(caller.name, caller.groups, published),
        requested=requested,
        marker=marker,
        default=gateway.default_course,
        admin=caller.admin,
    )


async def question_course(gateway: Any, caller: Caller, context: Mapping[str, Any]) -> str:
    """The course a question from ``caller`` with ``X-Tutor-Context`` ``context`` is in."""
    async with gateway.pool.connection() as conn:
        published = await published_courses(conn)
    return course_of(gateway, caller, context, published)
