"""``jupyter-tutor course``: author a course for the tutor.

  jupyter-tutor course init PATH      scaffold tutor.yaml and an example notebook
  jupyter-tutor course validate PATH  report every problem with its file and cell
  jupyter-tutor course publish PATH   store the course's policy for the gateway
  jupyter-tutor course release PATH OUT  write the student version (solutions stubbed)
  jupyter-tutor course link [OUT] --hub URL  an nbgitpuller link to the released material

A course folder holds notebooks and a tutor.yaml; notebooks and cells refine the course's
settings under a `tutor` metadata key (policy, objectives, notes, exercise, solution,
hidden). Publishing is what makes a policy apply: the gateway reads only what was
published, never what a student's server sends.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from traitlets import Bool, Unicode
from traitlets.config import Application

from jupyter_tutor import __version__
from jupyter_tutor.cli import CommandGroup

from ..db import Database, DatabaseError
from ..policy.config import read_course
from ..policy.gitpuller import LinkError, nbgitpuller_link, origin_of, released_course_name
from ..policy.release import DEFAULT_STUB, release_course
from ..policy.scaffold import ScaffoldError, init_course
from ..policy.store import PolicyError, publish
from .base import DatabaseCommand


class _OneFolder(Application):
    """A subcommand that takes one course folder."""

    version = __version__

    def folder(self) -> Path:
        if len(self.extra_args) != 1:
            self.log.error("Give one course folder: jupyter-tutor course %s PATH", self.name)
            self.exit(2)
        return Path(self.extra_args[0]).expanduser()


class ValidateApp(_OneFolder):
    """Check a course folder: tutor.yaml and every notebook's `tutor` metadata.

    Usage: jupyter-tutor course validate PATH [--strict] [--json]

    Prints every problem as `file, cell N (id X): error|warning: what and how to fix`.
    Exits 1 when there are errors (with --strict, warnings too), else 0.
    """

    name = "validate"
    description = __doc__
    flags = {
        "strict": ({"ValidateApp": {"strict": True}}, "Warnings fail the check too."),
        "json": ({"ValidateApp": {"json_output": True}}, "Print the problems as JSON."),
    }
    strict = Bool(False, help="Fail on warnings as well as errors.").tag(config=True)
    json_output = Bool(False, help="Print the problems as a JSON list.").tag(config=True)

    def start(self) -> None:
        course = read_course(self.folder())
        failing = course.problems if self.strict else course.errors
        if self.json_output:
            print(json.dumps([p.__dict__ for p in course.problems], indent=1))
        else:
            for problem in course.problems:
                print(problem)
            notebooks = len(course.notebooks)
            errors = len(course.errors)
            warnings = len(course.problems) - errors
            print(
                f"{course.config.name}: {notebooks} notebook(s), {errors} error(s), "
                f"{warnings} warning(s)",
                file=sys.stderr,
            )
        self.exit(1 if failing else 0)


class InitApp(_OneFolder):
    """Scaffold a course: a commented tutor.yaml and an example notebook.

    Usage: jupyter-tutor course init PATH [--name NAME] [--title TITLE] [--force]
    """

    name = "init"
    description = __doc__
    aliases = {"name": "InitApp.course_name", "title": "InitApp.title"}
    flags = {"force": ({"InitApp": {"force": True}}, "Overwrite an existing tutor.yaml.")}
    course_name = Unicode(help="The course id (default: from the folder's name).").tag(config=True)
    title = Unicode(help="The course's title.").tag(config=True)
    force = Bool(False, help="Overwrite an existing tutor.yaml.").tag(config=True)

    def start(self) -> None:
        folder = self.folder()
        try:
            written = init_course(folder, self.course_name, self.title, self.force)
        except (ScaffoldError, OSError) as err:
            self.log.error(str(err))
            self.exit(1)
        for path in written:
            print(f"wrote {path}")
        print(f"next: edit them, then `jupyter-tutor course validate {folder}`")


class PublishApp(_OneFolder, DatabaseCommand):
    """Store a course's policy (tutor.yaml and notebook metadata) for the gateway.

    Usage: jupyter-tutor course publish PATH [--course NAME]

    Refuses a folder with errors (run `validate` to see them). Republishing replaces the
    course's policy; the gateway applies it from the next question on.
    """

    name = "publish"
    description = __doc__
    expected_errors = (PolicyError, DatabaseError)
    aliases = {
        "course": "PublishApp.course",
        "url": "Database.url",
        "data-dir": "Database.data_dir",
    }
    course = Unicode(help="The course id (default: `name` in tutor.yaml).").tag(config=True)

    def run(self, database: Database) -> None:
        course = read_course(self.folder())
        for problem in course.problems:
            if problem.severity != "error":  # errors are listed when publishing refuses
                print(problem, file=sys.stderr)
        pool = database.open_pool()
        try:
            with pool.connection() as conn:
                course_id = publish(conn, course, self.course)
        finally:
            pool.close()
        print(f"published the policy of {course_id} ({len(course.notebooks)} notebook(s))")


class ReleaseApp(Application):
    """Write the student version of a course: what students' servers may hold.

    Usage: jupyter-tutor course release PATH OUT [--stub TEXT]

    As nbgrader's release does: solution regions replaced by the stub, hidden tests and
    hidden cells removed, outputs of graded cells cleared, instructor notes dropped from
    the metadata, tutor.yaml left out. Copy OUT (never PATH) into students' homes.
    """

    name = "release"
    version = __version__
    description = __doc__
    aliases = {"stub": "ReleaseApp.stub"}
    stub = Unicode(
        DEFAULT_STUB, help="What replaces each solution region (indented like the region)."
    ).tag(config=True)

    def start(self) -> None:
        if len(self.extra_args) != 2:
            self.log.error("Give the course folder and an output folder: release PATH OUT")
            self.exit(2)
        source, target = (Path(a).expanduser() for a in self.extra_args)
        try:
            summary = release_course(source, target, self.stub.replace("\\n", "\n"))
        except (OSError, ValueError) as err:
            self.log.error("Could not release %s: %s", source, err)
            self.exit(1)
        print(f"{target}: {summary}")


class LinkApp(Application):
    """Print an nbgitpuller link that gives each student the course's released material.

    Usage: jupyter-tutor course link [OUT] --hub URL [--repo URL] [--branch B]
           [--course NAME] [--open NOTEBOOK] [--app lab|tree]

    OUT is the released folder (`course release`) committed to a git repository: the
    course comes from its .tutor-course marker and the repository from its `origin`
    remote, unless --course and --repo say otherwise. Opening the link on the hub pulls
    the repository into ~/COURSE (cloned the first time, merged later: students' edits
    are kept) and opens it, or --open NOTEBOOK in it. Students' servers need nbgitpuller.
    """

    name = "link"
    version = __version__
    description = __doc__
    aliases = {
        "hub": "LinkApp.hub",
        "repo": "LinkApp.repo",
        "branch": "LinkApp.branch",
        "course": "LinkApp.course",
        "open": "LinkApp.open_path",
        "app": "LinkApp.app",
    }
    hub = Unicode(help="The hub's public URL, e.g. https://hub.example.edu.").tag(config=True)
    repo = Unicode(help="The git repository of the released material.").tag(config=True)
    branch = Unicode(help="Its branch (default: the repository's default).").tag(config=True)
    course = Unicode(help="The course (default: from OUT's .tutor-course).").tag(config=True)
    open_path = Unicode(help="A notebook to open, relative to the course folder.").tag(
        config=True
    )
    app = Unicode("lab", help="Open in JupyterLab (lab) or the classic tree (tree).").tag(
        config=True
    )

    def start(self) -> None:
        if not self.hub or len(self.extra_args) > 1:
            self.log.error("Usage: jupyter-tutor course link [OUT] --hub URL [--repo URL]")
            self.exit(2)
        folder = Path(self.extra_args[0]).expanduser() if self.extra_args else None
        try:
            if folder is not None:
                course = self.course or released_course_name(folder)
                repo = self.repo or origin_of(folder)
            elif self.repo and self.course:
                course, repo = self.course, self.repo
            else:
                raise LinkError("Give the released folder OUT, or both --repo and --course.")
            link = nbgitpuller_link(
                self.hub, repo, course, branch=self.branch, open_path=self.open_path, app=self.app
            )
        except LinkError as err:
            self.log.error(str(err))
            self.exit(1)
        print(link)


class CourseAuthoringApp(CommandGroup):
    """Author a course for the tutor: init, validate, publish, release, link."""

    name = "jupyter-tutor-course"
    description = __doc__
    subcommands = {
        "init": (InitApp, InitApp.__doc__.splitlines()[0]),
        "validate": (ValidateApp, ValidateApp.__doc__.splitlines()[0]),
        "publish": (PublishApp, PublishApp.__doc__.splitlines()[0]),
        "release": (ReleaseApp, ReleaseApp.__doc__.splitlines()[0]),
        "link": (LinkApp, LinkApp.__doc__.splitlines()[0]),
    }


main = CourseAuthoringApp.launch_instance

if __name__ == "__main__":
    main()
