"""Adoption: of the students active on the hub, how many used the tutor.

Active students come from JupyterHub's REST API, read with the gateway's own service
token (its role holds ``list:users`` and ``read:users``): users whose last activity falls
in the period, minus the course's instructors and the hub's admins.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import httpx

from ..policy.config import CourseConfig

PAGINATED = "application/jupyterhub-pagination+json"


@dataclass(frozen=True)
class Population:
    """The hub's users as the dashboard counts them."""

    #: Students (not instructors of the course, not admins) active in the period.
    active_students: set[str]
    #: Instructors of the course and admins: never counted as students.
    staff: set[str]


@dataclass(frozen=True)
class HubDirectory:
    """Where the hub's REST API is, and the gateway's token for it."""

    api_url: str
    api_token: str
    timeout: float = 5.0

    async def population(self, course: CourseConfig, since: dt.datetime) -> Population:
        """Who is a student and who was active since ``since``, as the hub knows them.

        Raises ``httpx.HTTPError`` when the hub cannot be asked.
        """
        found = Population(set(), set())
        headers = {"Authorization": f"token {self.api_token}", "Accept": PAGINATED}
        offset = 0
        async with httpx.AsyncClient(timeout=self.timeout) as client:
            while True:
                response = await client.get(
                    self.api_url.rstrip("/") + "/users",
                    params={"offset": offset, "limit": 200},
                    headers=headers,
                )
                response.raise_for_status()
                page = response.json()
                users = page["items"] if isinstance(page, dict) else page
                for user in users:
                    if not _is_student(user, course):
                        found.staff.add(user["name"])
                    elif _active_since(user, since):
                        found.active_students.add(user["name"])
                following = (
                    page.get("_pagination", {}).get("next") if isinstance(page, dict) else None
                )
                if not following:
                    return found
                offset = following["offset"]


def _is_student(user: dict, course: CourseConfig) -> bool:
    instructor = course.instructed_by(user["name"], user.get("groups") or ())
    return not (instructor or user.get("admin") or user.get("kind", "user") != "user")


def _active_since(user: dict, since: dt.datetime) -> bool:
    last = user.get("last_activity")
    if not last:
        return False
    when = dt.datetime.fromisoformat(last.replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when >= since
