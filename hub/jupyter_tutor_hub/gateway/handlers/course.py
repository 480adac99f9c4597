"""``GET api/course``: what the student's panel may show about the course's settings.

The course's title, its default help policy, the privacy setting (whether instructors
read conversations, with the sentence to show), and, given the student's position
(``?notebook_path=&cell_index=&cell_id=``), the policy in force there.  Instructor notes,
solutions and the avoid-list never leave the hub.  The course is chosen as for a question
(``?course=`` the student's pick, ``?course_marker=`` the notebook's), among the caller's.
"""

from __future__ import annotations

from ...policy.config import CourseConfig
from ...policy.resolve import Situation, resolve
from ...policy.store import load_course_config, load_notebook
from ..courses import question_course
from ..errors import bad_request
from .base import GatewayHandler


class CourseHandler(GatewayHandler):
    route = "course"

    async def get(self) -> None:
        caller = await self.identify()
        course = await question_course(
            self.gateway,
            caller,
            {
                "course": self.get_argument("course", None),
                "course_marker": self.get_argument("course_marker", None),
            },
        )
        cell = self.get_argument("cell_index", None)
        try:
            situation = Situation.from_header(
                {
                    "notebook_path": self.get_argument("notebook_path", None),
                    "cell_index": int(cell) if cell and cell.isascii() and cell.isdigit() else None,
                    "cell_id": self.get_argument("cell_id", None),
                }
            )
        except ValueError as err:  # a cell index out of range
            raise bad_request(str(err)) from err
        async with self.gateway.pool.connection() as conn:
            config = await load_course_config(conn, course) if course else None
            notebook = (
                await load_notebook(conn, course, situation.turn.notebook_path) if config else None
            )
        published = config is not None
        config = config or CourseConfig(name=course)
        here = resolve(config, notebook, situation)
        self.write_json(
            {
                "course": config.name,
                "title": config.display_title,
                "published": published,
                "language": config.language,
                "model": config.model,
                "policy": config.policy,
                "privacy": {
                    "instructors_read_conversations": config.instructors_read_conversations,
                    "notice": config.privacy_notice,
                },
                "here": {
                    "notebook_path": here.notebook_path,
                    "cell_index": here.cell_index,
                    "exercise": here.exercise,
                    "policy": here.name,
                },
            }
        )
