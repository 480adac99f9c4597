"""Course membership from the LMS: an LTI 1.3 launch puts the user in the course's groups.

Universities keep who takes and teaches which course in their LMS (Canvas, Moodle, ...).
When a student follows the tutor's link there, the LMS signs an LTI 1.3 ``id_token`` that
says who they are, in which course (the *context* claim) and with which roles.
``jupyterhub-ltiauthenticator`` checks the signature, the issuer, the audience, the state
and the nonce; this subclass turns the verified claims into the hub groups the tutor
reads course membership from (``policy/membership.py``: ``nbgrader-COURSE`` for learners,
``formgrade-COURSE`` for instructors), with JupyterHub's ``manage_groups``, so the student
lands in the right course with nothing configured by hand.

A launch only ever changes the groups of its own course: a student who launches from a
second course keeps the first one's groups (``manage_groups`` alone would replace them
with the last launch's).  The same ``id_token`` is accepted once (its nonce is
remembered until the token could no longer be accepted anyway), and only from the
deployments configured, when any are.
"""

from __future__ import annotations

import re
import time
from typing import Any

from ltiauthenticator.lti13.auth import LTI13Authenticator
from ltiauthenticator.lti13.error import LoginError
from traitlets import Bool, Dict, Integer, List, Set, Unicode, default

from .policy.config import is_course_name
from .policy.membership import CourseGroups

CONTEXT_CLAIM = "https://purl.imsglobal.org/spec/lti/claim/context"
ROLES_CLAIM = "https://purl.imsglobal.org/spec/lti/claim/roles"
DEPLOYMENT_CLAIM = "https://purl.imsglobal.org/spec/lti/claim/deployment_id"

_MEMBERSHIP = "http://purl.imsglobal.org/vocab/lis/v2/membership"
LEARNER_ROLES = {f"{_MEMBERSHIP}#Learner", "Learner"}
INSTRUCTOR_ROLES = {
    f"{_MEMBERSHIP}#Instructor",
    f"{_MEMBERSHIP}/Instructor#TeachingAssistant",
    f"{_MEMBERSHIP}#ContentDeveloper",
    "Instructor",
}


def course_name_from_label(label: str) -> str | None:
    """A tutor course name made from an LMS course label ("Intro Python 101" →
    ``intro-python-101``), or None when nothing usable is left."""
    name = re.sub(r"[^a-z0-9._-]+", "-", label.strip().lower()).strip("-._")
    return name if is_course_name(name) else None


class LTI13CourseAuthenticator(LTI13Authenticator):
    """LTI 1.3 launches from an LMS, with the launch's course and role as hub groups."""

    course_map = Dict(
        key_trait=Unicode(),
        value_trait=Unicode(),
        config=True,
        help="""LMS course (the context claim's `id` or `label`) → tutor course name. A
        context found here takes its course; one that is not takes its label made into a
        course name ("Intro Python" → intro-python) unless `map_only` is set.""",
    )
    map_only = Bool(
        False,
        config=True,
        help="""Only contexts listed in `course_map` give course groups; a launch from any
        other course logs the user in without one (and says so in the log).""",
    )
    deployment_ids = Set(
        trait=Unicode(),
        config=True,
        help="""The LMS deployment ids (the `deployment_id` claim) whose launches are
        accepted; empty: any deployment of the configured client ids.""",
    )
    instructor_role_groups = List(
        Unicode(),
        default_value=["instructors"],
        config=True,
        help="""Groups an instructor launch also joins: the groups that hold the
        tutor-instructor role (TUTOR_INSTRUCTOR_GROUPS, `instructors` unless set), which
        gives the scope to see one's courses on the dashboard. Course groups listed here
        are skipped (an instructor joins only the launched course's).""",
    )
    nonce_memory = Integer(
        10_000,
        config=True,
        help="Most nonces of accepted launches remembered at once (to refuse replays).",
    )

    @default("manage_groups")
    def _manage_groups_default(self) -> bool:
        return True

    @default("allow_all")
    def _allow_all_default(self) -> bool:
        # The LMS decides who may launch; the signature says the LMS sent them.
        return True

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.course_groups = CourseGroups(parent=self)
        self._seen_nonces: dict[str, float] = {}

    async def authenticate(self, handler: Any, data: dict[str, Any] | None = None) -> Any:
        """The user of a verified launch (``data``: the checked ``id_token``), with the
        groups of the launch's course merged into those they hold already."""
        token = data or {}
        self._check_addressed_to_us(token)
        self._check_deployment(token)
        self._remember_nonce(token)
        model = await super().authenticate(handler, token)
        name = self.normalize_username(model["name"])
        user = handler.find_user(name) if handler is not None else None
        held = {group.name for group in user.groups} if user is not None else set()
        model["groups"] = sorted(self.groups_after_launch(held, token))
        return model

    def groups_after_launch(self, held: set[str], token: dict[str, Any]) -> set[str]:
        """``held`` with this launch's course groups: its role's group added, the other
        role's group of the same course removed (a TA made learner loses it)."""
        course = self.course_of(token)
        if course is None:
            return held
        roles = set(token.get(ROLES_CLAIM) or [])
        student = self.course_groups.student_group(course)
        instructor = self.course_groups.instructor_group(course)
        groups = held - {student, instructor}
        if roles & INSTRUCTOR_ROLES:
            groups |= {instructor, *self._role_only_groups()}
        elif roles & LEARNER_ROLES:
            groups.add(student)
        return groups

    def _role_only_groups(self) -> set[str]:
        """``instructor_role_groups`` less any course's group: TUTOR_INSTRUCTOR_GROUPS may
        list ``formgrade-A``, which must not make every launching instructor teach A."""
        return {
            group
            for group in self.instructor_role_groups
            if not self.course_groups.member_courses("", {group})
        }

    def course_of(self, token: dict[str, Any]) -> str | None:
        """The tutor course of the launch's LMS context, or None."""
        context = token.get(CONTEXT_CLAIM) or {}
        for key in (str(context.get("id", "")), str(context.get("label", ""))):
            if key in self.course_map:
                return self.course_map[key]
        if self.map_only:
            self.log.warning("LTI launch from an unmapped course %r: no course groups", context)
            return None
        course = course_name_from_label(str(context.get("label", "")))
        if course is None:
            self.log.warning("LTI launch without a usable course label %r", context)
        return course

    def _check_addressed_to_us(self, token: dict[str, Any]) -> None:
        """An ``azp`` (the party the token was issued to), when present, must be this tool
        (LTI's security framework; ltiauthenticator checks it only beside several ``aud``)."""
        azp = token.get("azp")
        if azp and azp not in self.client_id:
            raise LoginError("This LMS launch was issued to another tool.")

    def _check_deployment(self, token: dict[str, Any]) -> None:
        deployment = str(token.get(DEPLOYMENT_CLAIM, ""))
        if self.deployment_ids and deployment not in self.deployment_ids:
            raise LoginError(f"Launches from the LMS deployment {deployment!r} are not accepted.")

    def _remember_nonce(self, token: dict[str, Any]) -> None:
        """Refuse an ``id_token`` accepted before (a replay, even with its cookies)."""
        now = time.time()
        nonce = str(token.get("nonce", ""))
        for seen, until in list(self._seen_nonces.items()):
            if until < now:
                del self._seen_nonces[seen]
        if nonce in self._seen_nonces:
            raise LoginError("This LMS launch was used already: launch again from the course.")
        while len(self._seen_nonces) >= self.nonce_memory:
            del self._seen_nonces[next(iter(self._seen_nonces))]
        # ltiauthenticator refuses tokens issued more than 10 minutes ago, and this one
        # expires at `exp`: past both, it cannot be replayed anyway.
        self._seen_nonces[nonce] = max(float(token.get("exp", 0)), now + 600)
