"""Who belongs to which course: hub groups, the way multi-course JupyterHubs keep them.

nbgrader's convention for several courses on one hub (and the LMS bridges that create
groups for it) is a group ``nbgrader-COURSE`` for the students of COURSE and a group
``formgrade-COURSE`` for its instructors.  The gateway reads the caller's groups from the
hub (the student cannot forge them), so membership is decided hub-side; ``tutor.yaml`` may
name more instructor groups and users (``instructors``), which count as members too.
"""

from __future__ import annotations

from collections.abc import Iterable

from traitlets import Unicode
from traitlets.config import Configurable

from .config import CourseConfig, is_course_name


class CourseGroups(Configurable):
    """Maps hub groups to course membership (names configurable for other conventions)."""

    student_prefix = Unicode(
        "nbgrader-",
        config=True,
        help="""Hub groups named PREFIX + COURSE hold COURSE's students (nbgrader's convention,
        also what LTI launches create). Empty: no course membership from student groups.""",
    )
    instructor_prefix = Unicode(
        "formgrade-",
        config=True,
        help="""Hub groups named PREFIX + COURSE hold COURSE's instructors (nbgrader's
        convention). They ask the tutor in COURSE and see its analytics (with the
        custom:tutor:instructor scope). Empty: only tutor.yaml's `instructors` count.""",
    )

    def _courses_with(self, prefix: str, groups: Iterable[str]) -> set[str]:
        if not prefix:
            return set()
        found = {g[len(prefix) :] for g in groups if g.startswith(prefix)}
        return {name for name in found if is_course_name(name)}

    def student_group(self, course: str) -> str:
        return self.student_prefix + course

    def instructor_group(self, course: str) -> str:
        return self.instructor_prefix + course

    def taught_courses(self, groups: Iterable[str]) -> set[str]:
        """The courses whose ``formgrade-COURSE`` group is among ``groups``."""
        return self._courses_with(self.instructor_prefix, groups)

    def instructs(self, course: CourseConfig, name: str, groups: Iterable[str]) -> bool:
        """Whether ``name`` (in ``groups``) teaches ``course``: ``formgrade-COURSE`` or
        ``tutor.yaml``'s ``instructors``."""
        groups = set(groups)
        return course.name in self.taught_courses(groups) or course.instructed_by(name, groups)

    def member_courses(
        self, name: str, groups: Iterable[str], published: Iterable[CourseConfig] = ()
    ) -> set[str]:
        """Every course ``name`` belongs to, as a student or an instructor.

        ``published`` are the courses whose ``tutor.yaml`` may add instructors by group or
        name; a course known only from a group counts too (it may not be published yet).
        """
        groups = set(groups)
        courses = self._courses_with(self.student_prefix, groups)
        courses |= self._courses_with(self.instructor_prefix, groups)
        courses |= {c.name for c in published if c.instructed_by(name, groups)}
        return courses
