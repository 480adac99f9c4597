"""``jupyter-tutor ingest`` and ``jupyter-tutor search``: course material from the shell.

Both use the tutor's database as the gateway does (``$TUTOR_DATABASE_URL``, else the
embedded server under ``$TUTOR_DATA_DIR``) and the configured embedder
(``c.CourseApp.embedder_class``), so what ``search`` prints is what the tutor retrieves.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from traitlets import Bool, Enum, Integer, Type, Unicode, default

from jupyter_tutor.notebooks import cell_label

from ..course.chunker import Chunker
from ..course.embedder import Embedder, SentenceTransformerEmbedder
from ..course.errors import CourseError
from ..course.ingest import ingest_course
from ..course.search import MODES, Hit, require_course, search
from ..db import Database, DatabaseError
from ..policy.config import read_course
from .base import DatabaseCommand


class CourseApp(DatabaseCommand):
    """What the course commands share: the database and the embedder."""

    classes = [Database, SentenceTransformerEmbedder, Chunker]
    expected_errors = (DatabaseError, CourseError)

    embedder_class = Type(
        default_value=SentenceTransformerEmbedder,
        klass=Embedder,
        help="""The embedder (a subclass of jupyter_tutor_hub.course.embedder.Embedder).
        A course must be searched with the embedder it was ingested with.""",
    ).tag(config=True)

    config_file = Unicode(help="A Python config file to load settings from.").tag(config=True)

    _common_aliases = {
        "course": "CourseApp.course",
        "url": "Database.url",
        "data-dir": "Database.data_dir",
        "config": "CourseApp.config_file",
        "log-level": "Application.log_level",
    }

    course = Unicode(help="The course's name.").tag(config=True)

    def start(self) -> None:
        if self.config_file:
            self.load_config_file(self.config_file)
        super().start()

    def make_embedder(self) -> Embedder:
        return self.embedder_class(parent=self)


class IngestApp(CourseApp):
    """Index a course folder (notebooks, Markdown, Python) for retrieval.

    Usage: jupyter-tutor ingest PATH [--course NAME] [--strict]

    Incremental: unchanged files cost nothing, a changed notebook re-embeds only its
    changed passages, deleted files leave the index. The course name defaults to `name`
    in the folder's tutor.yaml, else the folder's name (lower-cased).

    The protection rules of `course validate` apply: a cell with a `### BEGIN SOLUTION`
    (or hidden tests) marker that nothing protects is stored as protected (never shown
    to students) and reported by file and cell; with --strict it is an error instead.
    """

    name = "jupyter-tutor-ingest"
    description = __doc__
    aliases = dict(CourseApp._common_aliases)
    flags = {
        "json": ({"IngestApp": {"json_output": True}}, "Print the summary as JSON."),
        "no-progress": ({"IngestApp": {"progress": False}}, "No progress bar."),
        "strict": (
            {"IngestApp": {"strict": True}},
            "Refuse a course with unprotected solution cells instead of protecting them.",
        ),
    }

    json_output = Bool(False, help="Print the summary as JSON.").tag(config=True)
    progress = Bool(True, help="Show a progress bar on stderr.").tag(config=True)
    strict = Bool(
        False, help="Refuse a course with unprotected solution cells (see course validate)."
    ).tag(config=True)

    def run(self, database: Database) -> None:
        if len(self.extra_args) != 1:
            raise CourseError("Give one course folder: jupyter-tutor ingest PATH --course NAME")
        course_dir = Path(self.extra_args[0]).expanduser().resolve()
        if not course_dir.is_dir():
            raise CourseError(f"{course_dir} is not a folder; give the course's folder.")
        folder = read_course(course_dir)
        config = folder.config
        course = self.course or config.name
        protect = folder.unprotected_solutions()
        for path, cells in protect.items():
            for cell in cells:
                self.log.warning(
                    "%s, %s holds a solution marker but is not protected: %s",
                    path,
                    cell_label(cell),
                    "refused (--strict)"
                    if self.strict
                    else "stored as protected (mark it as a solution cell to silence this)",
                )
        if protect and self.strict:
            raise CourseError(
                f"{sum(map(len, protect.values()))} unprotected solution cell(s): mark them "
                "as nbgrader solution cells or with tutor.solution (see course validate)."
            )
        pool = database.open_pool()
        try:
            summary = ingest_course(
                pool,
                self.make_embedder(),
                course_dir,
                course,
                title=config.title,
                index_also=config.index_also,
                chunker=Chunker(parent=self),
                progress=self.progress,
                log=self.log,
                protect=protect,
            )
        finally:
            pool.close()
        # skipped files were logged one by one as they were met
        print(json.dumps(summary.to_dict()) if self.json_output else summary)


class SearchApp(CourseApp):
    """Search an ingested course the way the tutor does.

    Usage: jupyter-tutor search --course NAME [-k 5] [--json] "question"
           jupyter-tutor search --course NAME --queries FILE   (one question per line)

    Only student-visible passages are returned. With --queries every question is
    answered in one process, one JSON line each: {"question": ..., "hits": [...]}.
    """

    name = "jupyter-tutor-search"
    description = __doc__
    aliases = {
        **CourseApp._common_aliases,
        "k": "SearchApp.k",
        "queries": "SearchApp.queries",
        "mode": "SearchApp.mode",
    }
    flags = {"json": ({"SearchApp": {"json_output": True}}, "Print the hits as a JSON list.")}

    k = Integer(5, help="How many passages to return.").tag(config=True)
    queries = Unicode(help="A file of questions, one per line.").tag(config=True)
    mode = Enum(MODES, "hybrid", help="Retrieval method (hybrid, vector or text).").tag(config=True)
    json_output = Bool(False, help="Print JSON instead of text.").tag(config=True)

    @default("course")
    def _course_default(self) -> str:
        return os.environ.get("TUTOR_DEFAULT_COURSE", "")

    def run(self, database: Database) -> None:
        questions = self._questions()
        if not self.course:
            raise CourseError("Say which course to search: --course NAME")
        pool = database.open_pool()
        try:
            require_course(pool, self.course)  # before the model: seconds to load
            embedder = None if self.mode == "text" else self.make_embedder()
            for question in questions:
                hits = search(pool, embedder, self.course, question, self.k, mode=self.mode)
                self._print(question, hits)
        finally:
            pool.close()

    def _questions(self) -> list[str]:
        if self.queries:
            if self.extra_args:
                raise CourseError("Give either a question or --queries FILE, not both.")
            try:
                lines = Path(self.queries).read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError) as err:
                raise CourseError(f"Cannot read the questions file {self.queries}: {err}") from err
            return [line.strip() for line in lines if line.strip()]
        question = " ".join(self.extra_args).strip()
        if not question:
            raise CourseError('Give a question: jupyter-tutor search --course NAME "question"')
        return [question]

    def _print(self, question: str, hits: list[Hit]) -> None:
        found: list[dict[str, Any]] = [hit.to_dict() for hit in hits]
        if self.queries:
            print(json.dumps({"question": question, "hits": found}), flush=True)
        elif self.json_output:
            print(json.dumps(found, indent=2))
        else:
            for n, hit in enumerate(hits, start=1):
                where = ", ".join(filter(None, [hit.path, cell_label(hit.cell)]))
                excerpt = " ".join(hit.text.split())[:200]
                print(f"{n}. {hit.heading}  ({where})  score {hit.score:.4f}\n   {excerpt}")
            if not hits:
                print("No passage found.")
