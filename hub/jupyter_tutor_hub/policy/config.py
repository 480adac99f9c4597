"""Course settings (``tutor.yaml``) and notebook and cell ``tutor`` metadata, read and checked.

One reader serves ``jupyter-tutor course validate`` and publishing, so what validation
accepts is exactly what the gateway enforces.  Readers never raise on a bad value: they
keep a default, record a :class:`Problem` with the file and cell, and go on, so an
instructor sees every problem at once.

Cell settings hold from their cell to the end of its section (the next Markdown heading):
an instructor marks an exercise once, on its first cell, and the student's answer cells
below it inherit the policy, objectives and notes.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

from jupyter_tutor.notebooks import cell_label, cell_source, last_heading

from ..course.notebooks import cell_policy

POLICIES = ("explain", "hints-only", "no-help")
DEFAULT_POLICY = "hints-only"
COURSE_FILE = "tutor.yaml"

#: Keys of ``tutor.yaml`` and what each holds (unknown keys are warned about).
COURSE_KEYS = {
    "name": "course id: lower-case letters, digits, '-', '_' or '.'",
    "title": "the course's title, as students see it",
    "language": "the language the tutor answers in",
    "persona": "how the tutor presents itself (tone, examples)",
    "policy": "default help policy: " + " | ".join(POLICIES),
    "model": "default model the students' servers ask for",
    "budget": "default budget: {daily_tokens, daily_usd} per student",
    "privacy": "{instructors_read_conversations: true|false}",
    "instructors": "{groups: [...], users: [...]} who see this course's analytics",
    "avoid": "words and concepts the tutor must not mention yet",
    "guard": "{trigger_ratio: 0-1, memory_hours: N} the output guard's sensitivity and memory",
    "index_also": "files indexed although they are not course material by default (README.md)",
    "tools": "{allow: [...], deny: [...]} the tutor's tools the model may use (default: all)",
}
BUDGET_KEYS = ("daily_tokens", "daily_usd")
PRIVACY_KEYS = ("instructors_read_conversations",)
INSTRUCTOR_KEYS = ("groups", "users")
TOOL_KEYS = ("allow", "deny")
GUARD_KEYS = ("trigger_ratio", "memory_hours")
NOTEBOOK_KEYS = ("policy", "objectives", "notes", "avoid", "hidden")
CELL_KEYS = ("policy", "objectives", "notes", "exercise", "solution", "hidden", "test")

_COURSE_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def is_course_name(name: str) -> bool:
    """Whether ``name`` can name a course (and so a hub group, a folder, a URL part)."""
    return bool(_COURSE_NAME.match(name))


#: What the Messages API accepts as a tool's name.
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_SOLUTION_MARKER = re.compile(r"^\s*#+\s*BEGIN (SOLUTION|HIDDEN TESTS)\b", re.MULTILINE)


@dataclass(frozen=True)
class Problem:
    """One thing wrong (``error``) or doubtful (``warning``) in a course folder."""

    path: str
    message: str
    severity: str = "error"
    cell: int | None = None
    cell_id: str | None = None

    def __str__(self) -> str:
        where = self.path
        if self.cell is not None:
            where += f", {cell_label(self.cell)}"
            if self.cell_id:
                where += f" (id {self.cell_id})"
        return f"{where}: {self.severity}: {self.message}"


@dataclass(frozen=True)
class CourseConfig:
    """``tutor.yaml``, with defaults filled in."""

    name: str
    title: str = ""
    language: str = ""
    persona: str = ""
    policy: str = DEFAULT_POLICY
    model: str = ""
    daily_tokens: int | None = None
    daily_usd: float | None = None
    instructors_read_conversations: bool = False
    instructor_groups: tuple[str, ...] = ()
    instructor_users: tuple[str, ...] = ()
    avoid: tuple[str, ...] = ()
    #: Course-relative files indexed although, by default, they are not course material.
    index_also: tuple[str, ...] = ()
    #: Tools the model may be offered (None: every tool the student's server has).
    tools_allowed: tuple[str, ...] | None = None
    #: Tools the model is never offered, whatever ``tools_allowed`` says.
    tools_denied: tuple[str, ...] = ()
    #: The output guard's share of a protected cell that may be reproduced (None: the
    #: gateway's ``SolutionGuard.trigger_ratio``).
    guard_trigger_ratio: float | None = None
    #: Hours what a student was shown of a protected cell counts (None: the gateway's).
    guard_memory_hours: float | None = None

    def allows_tool(self, name: str) -> bool:
        """Whether the course lets the model use the tool ``name``."""
        if name in self.tools_denied:
            return False
        return self.tools_allowed is None or name in self.tools_allowed

    @property
    def display_title(self) -> str:
        return self.title or self.name

    @property
    def groups_of_instructors(self) -> tuple[str, ...]:
        """Hub groups whose members instruct this course (the defaults when none are set)."""
        return self.instructor_groups or ("instructors", f"instructors-{self.name}")

    def instructed_by(self, name: str, groups: Iterable[str]) -> bool:
        """Whether the hub user ``name``, member of ``groups``, instructs this course."""
        return name in self.instructor_users or bool(set(groups) & set(self.groups_of_instructors))

    @property
    def privacy_notice(self) -> str:
        """What students are told about who reads their conversations."""
        if self.instructors_read_conversations:
            return (
                "Your instructors can read your conversations with the tutor in this course, "
                "to see where the course can help you better."
            )
        return (
            "Your instructors see how the tutor is used in this course (questions per "
            "exercise, errors, votes, usage) but cannot read your conversations."
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CourseConfig:
        """From :meth:`to_json` output; unknown keys (a newer publisher) are ignored."""
        known = {f.name: data[f.name] for f in fields(cls) if f.name in data}
        tuples = ("instructor_groups", "instructor_users", "avoid", "index_also", "tools_denied")
        for key in tuples:
            if key in known:
                known[key] = tuple(known[key])
        if known.get("tools_allowed") is not None:
            known["tools_allowed"] = tuple(known["tools_allowed"])
        return cls(**known)


#: A heading that names an exercise ("Exercise 2: loops", "Übung 1", "Exercice 3").
_EXERCISE_HEADING = re.compile(r"\b(exercises?|exercices?|übung|ejercicio|practice)\b", re.I)


def _exercise(section: Mapping[str, Any], heading: str | None, metadata: Any) -> str | None:
    """The exercise a cell belongs to, only where it is one: the section's ``tutor``
    exercise, the cell's nbgrader grade id, or a heading that says it is an exercise. Other
    sections ("Lists and Loops", "NameError") are not exercises."""
    nbgrader = metadata.get("nbgrader") if isinstance(metadata, Mapping) else None
    grade_id = nbgrader.get("grade_id") if isinstance(nbgrader, Mapping) else None
    if section.get("exercise"):
        return str(section["exercise"])
    if heading and _EXERCISE_HEADING.search(heading):
        return heading
    return str(grade_id) if grade_id else None


@dataclass(frozen=True)
class CellSettings:
    """What the tutor knows about one cell, its section's settings included."""

    index: int
    id: str | None = None
    cell_type: str = "code"
    exercise: str | None = None
    policy: str | None = None
    objectives: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    protected: bool = False
    #: It holds a solution marker but nothing protects it (a validation error; ingest
    #: stores it as protected all the same).
    unprotected_solution: bool = False


@dataclass(frozen=True)
class NotebookSettings:
    """A notebook's own ``tutor`` metadata and its cells' settings."""

    path: str
    policy: str | None = None
    objectives: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    avoid: tuple[str, ...] = ()
    cells: tuple[CellSettings, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> NotebookSettings:
        cells = tuple(
            CellSettings(
                **{
                    **cell,
                    "objectives": tuple(cell.get("objectives", ())),
                    "notes": tuple(cell.get("notes", ())),
                }
            )
            for cell in data.get("cells", ())
        )
        return cls(
            path=data["path"],
            policy=data.get("policy"),
            objectives=tuple(data.get("objectives", ())),
            notes=tuple(data.get("notes", ())),
            avoid=tuple(data.get("avoid", ())),
            cells=cells,
        )


class _Checker:
    """Reads typed values out of a mapping, recording a problem for each bad one."""

    def __init__(
        self,
        problems: list[Problem],
        path: str,
        cell: int | None = None,
        cell_id: str | None = None,
    ) -> None:
        self.problems = problems
        self.path = path
        self.cell = cell
        self.cell_id = cell_id

    def error(self, message: str) -> None:
        self.problems.append(Problem(self.path, message, "error", self.cell, self.cell_id))

    def warning(self, message: str) -> None:
        self.problems.append(Problem(self.path, message, "warning", self.cell, self.cell_id))

    def mapping(self, value: Any, what: str) -> Mapping[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self.error(f"{what} must be a mapping of keys to values, not {_kind(value)}.")
            return {}
        return value

    def known_keys(self, data: Mapping[str, Any], known: Any, what: str) -> None:
        for key in data:
            if key not in known:
                hint = difflib.get_close_matches(str(key), list(known), n=1)
                suggestion = f" (did you mean '{hint[0]}'?)" if hint else ""
                self.warning(
                    f"unknown key '{key}' in {what}{suggestion}; known keys: "
                    + ", ".join(known)
                    + "."
                )

    def text(self, data: Mapping[str, Any], key: str, what: str) -> str:
        value = data.get(key)
        if value is None:
            return ""
        if not isinstance(value, str):
            self.error(f"{what} '{key}' must be text, not {_kind(value)}.")
            return ""
        return value.strip()

    def texts(self, data: Mapping[str, Any], key: str, what: str) -> tuple[str, ...]:
        """A list of texts; a single text is accepted as a list of one."""
        value = data.get(key)
        if value is None:
            return ()
        if isinstance(value, str):
            return (value.strip(),) if value.strip() else ()
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.error(f"{what} '{key}' must be a list of texts, not {_kind(value)}.")
            return ()
        return tuple(v.strip() for v in value if v.strip())

    def tool_names(self, data: Mapping[str, Any], key: str) -> tuple[str, ...] | None:
        """A list of tool names under ``tools``; None when the key is absent."""
        if key not in data:
            return None
        names = self.texts(data, key, "tools")
        for name in names:
            if not _TOOL_NAME.match(name):
                self.error(
                    f"tools '{key}' holds {name!r}, which is not a tool name (letters, "
                    "digits, '_' or '-', like run_code or check_exercise)."
                )
        return names

    def flag(self, data: Mapping[str, Any], key: str, what: str) -> bool:
        value = data.get(key, False)
        if not isinstance(value, bool):
            self.error(f"{what} '{key}' must be true or false, not {value!r}.")
            return False
        return value

    def policy(self, data: Mapping[str, Any], key: str, what: str) -> str | None:
        value = data.get(key)
        if value is None:
            return None
        if value not in POLICIES:
            hint = difflib.get_close_matches(str(value), POLICIES, n=1)
            suggestion = f" Did you mean '{hint[0]}'?" if hint else ""
            self.error(
                f"{what} '{key}' must be one of {', '.join(POLICIES)}, not {value!r}.{suggestion}"
            )
            return None
        return value

    def number(self, data: Mapping[str, Any], key: str, what: str) -> float | None:
        return self._non_negative(data, key, what, (int, float), "a number")

    def whole_number(self, data: Mapping[str, Any], key: str, what: str) -> int | None:
        value = self._non_negative(data, key, what, (int,), "a whole number")
        return None if value is None else int(value)

    def _non_negative(
        self, data: Mapping[str, Any], key: str, what: str, wanted: tuple[type, ...], kind: str
    ) -> float | None:
        value = data.get(key)
        if value is None:
            return None
        if type(value) not in wanted or value < 0:  # bool is not a number here
            self.error(f"{what} '{key}' must be {kind}, 0 or more, not {value!r}.")
            return None
        return value


def course_name_from_folder(folder: Path) -> str:
    """The course id a folder's name suggests (may be empty for an unusable name)."""
    return re.sub(r"[^a-z0-9._-]+", "-", folder.resolve().name.lower()).strip("-._")


def _kind(value: Any) -> str:
    kinds: dict[type, str] = {list: "a list", dict: "a mapping", str: "text"}
    return kinds.get(type(value), repr(value))


def read_course_config(folder: Path, problems: list[Problem]) -> CourseConfig:
    """``folder/tutor.yaml`` as a :class:`CourseConfig`; problems go to ``problems``."""
    check = _Checker(problems, COURSE_FILE)
    fallback_name = course_name_from_folder(folder)
    path = folder / COURSE_FILE
    if not path.is_file():
        check.warning(
            "there is no tutor.yaml: every default applies (policy hints-only, course name "
            f"'{fallback_name}'). `jupyter-tutor course init` writes one to start from."
        )
        return CourseConfig(name=fallback_name or "course")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        check.error(f"this is not valid YAML{where}: {getattr(err, 'problem', err)}.")
        return CourseConfig(name=fallback_name or "course")
    except (OSError, UnicodeDecodeError) as err:
        check.error(f"cannot be read: {err}.")
        return CourseConfig(name=fallback_name or "course")
    data = check.mapping(data, "tutor.yaml")
    check.known_keys(data, COURSE_KEYS, "tutor.yaml")
    name = check.text(data, "name", "tutor.yaml")
    if not name:
        check.warning(f"no 'name': the course is called '{fallback_name}' (its folder's name).")
        name = fallback_name or "course"
    elif not is_course_name(name):
        check.error(
            f"'name' {name!r} is not a valid course id: use lower-case letters, digits, "
            "'-', '_' or '.', at most 64 characters, starting with a letter or digit."
        )
    budget = check.mapping(data.get("budget"), "'budget'")
    check.known_keys(budget, BUDGET_KEYS, "'budget'")
    privacy = check.mapping(data.get("privacy"), "'privacy'")
    check.known_keys(privacy, PRIVACY_KEYS, "'privacy'")
    instructors = check.mapping(data.get("instructors"), "'instructors'")
    check.known_keys(instructors, INSTRUCTOR_KEYS, "'instructors'")
    tools = check.mapping(data.get("tools"), "'tools'")
    check.known_keys(tools, TOOL_KEYS, "'tools'")
    guard = check.mapping(data.get("guard"), "'guard'")
    check.known_keys(guard, GUARD_KEYS, "'guard'")
    trigger_ratio = check.number(guard, "trigger_ratio", "guard")
    if trigger_ratio is not None and not 0 < trigger_ratio <= 1:
        check.error(
            f"guard 'trigger_ratio' must be more than 0 and at most 1, not {trigger_ratio}."
        )
        trigger_ratio = None
    return CourseConfig(
        name=name,
        title=check.text(data, "title", "tutor.yaml"),
        language=check.text(data, "language", "tutor.yaml"),
        persona=check.text(data, "persona", "tutor.yaml"),
        policy=check.policy(data, "policy", "tutor.yaml") or DEFAULT_POLICY,
        model=check.text(data, "model", "tutor.yaml"),
        daily_tokens=check.whole_number(budget, "daily_tokens", "budget"),
        daily_usd=check.number(budget, "daily_usd", "budget"),
        instructors_read_conversations=check.flag(
            privacy, "instructors_read_conversations", "privacy"
        ),
        instructor_groups=check.texts(instructors, "groups", "instructors"),
        instructor_users=check.texts(instructors, "users", "instructors"),
        avoid=check.texts(data, "avoid", "tutor.yaml"),
        index_also=check.texts(data, "index_also", "tutor.yaml"),
        tools_allowed=check.tool_names(tools, "allow"),
        tools_denied=check.tool_names(tools, "deny") or (),
        guard_trigger_ratio=trigger_ratio,
        guard_memory_hours=check.number(guard, "memory_hours", "guard"),
    )


def course_notebooks(folder: Path) -> Iterator[Path]:
    """The course's notebooks, in a stable order (checkpoints and hidden folders skipped)."""
    for path in sorted(folder.rglob("*.ipynb")):
        relative = path.relative_to(folder)
        if not any(part.startswith(".") for part in relative.parts):
            yield path


def read_notebook(path: Path, relative: str, problems: list[Problem]) -> NotebookSettings | None:
    """A notebook's settings, or None when it cannot be read at all."""
    check = _Checker(problems, relative)
    try:
        notebook = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        check.error(f"not a readable notebook: {err}.")
        return None
    if not isinstance(notebook, Mapping) or not isinstance(notebook.get("cells"), list):
        check.error("not a notebook: it has no list of 'cells'.")
        return None
    metadata = check.mapping(notebook.get("metadata"), "the notebook's metadata")
    tutor = check.mapping(metadata.get("tutor"), "the notebook's 'tutor' metadata")
    check.known_keys(tutor, NOTEBOOK_KEYS, "the notebook's 'tutor' metadata")
    settings = NotebookSettings(
        path=relative,
        policy=check.policy(tutor, "policy", "notebook"),
        objectives=check.texts(tutor, "objectives", "notebook"),
        notes=check.texts(tutor, "notes", "notebook"),
        avoid=check.texts(tutor, "avoid", "notebook"),
    )
    hidden = check.flag(tutor, "hidden", "notebook")
    cells = _read_cells(notebook["cells"], relative, problems, hidden)
    return replace(settings, cells=tuple(cells))


def _read_cells(
    cells: list[Any], relative: str, problems: list[Problem], hidden: bool
) -> Iterator[CellSettings]:
    section: dict[str, Any] = {}
    heading: str | None = None
    for index, cell in enumerate(cells):
        if not isinstance(cell, Mapping):
            _Checker(problems, relative, index).error("this cell is not a JSON object.")
            continue
        cell_id = cell.get("id") if isinstance(cell.get("id"), str) else None
        check = _Checker(problems, relative, index, cell_id)
        cell_type = str(cell.get("cell_type", "code"))
        source = cell_source(cell)
        if cell_type == "markdown":
            found = last_heading(source)
            if found:
                heading, section = found, {}
        metadata = check.mapping(cell.get("metadata"), "the cell's metadata")
        tutor = check.mapping(metadata.get("tutor"), "the cell's 'tutor' metadata")
        check.known_keys(tutor, CELL_KEYS, "the cell's 'tutor' metadata")
        for key in ("solution", "hidden", "test"):
            check.flag(tutor, key, "cell")
        own = {
            "policy": check.policy(tutor, "policy", "cell"),
            "objectives": check.texts(tutor, "objectives", "cell"),
            "notes": check.texts(tutor, "notes", "cell"),
            "exercise": check.text(tutor, "exercise", "cell"),
        }
        section.update({k: v for k, v in own.items() if v})
        # The same rule ingest applies: nbgrader solution and grade cells, tutor solution
        # and hidden cells, or every cell of a hidden notebook.
        protected = hidden or cell_policy(dict(cell))[0] is not None
        unprotected_solution = bool(_SOLUTION_MARKER.search(source)) and not protected
        if unprotected_solution:
            check.error(
                "this cell holds a '### BEGIN SOLUTION' (or hidden tests) marker but is not "
                "protected, so its solution could reach students through the tutor. Mark it "
                'as an nbgrader solution cell, or add {"tutor": {"solution": true}} to its '
                "metadata."
            )
        yield CellSettings(
            index=index,
            id=cell_id,
            cell_type=cell_type,
            exercise=_exercise(section, heading, metadata),
            policy=section.get("policy"),
            objectives=section.get("objectives", ()),
            notes=section.get("notes", ()),
            protected=protected,
            unprotected_solution=unprotected_solution,
        )


@dataclass
class CourseFolder:
    """Everything read from a course folder, and what was wrong with it."""

    root: Path
    config: CourseConfig
    notebooks: list[NotebookSettings]
    problems: list[Problem]

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    def unprotected_solutions(self) -> dict[str, list[int]]:
        """Cells (by notebook path) holding a solution that nothing protects: ingest
        stores them as protected, so a validation error never becomes a leak."""
        found = {
            notebook.path: [c.index for c in notebook.cells if c.unprotected_solution]
            for notebook in self.notebooks
        }
        return {path: cells for path, cells in found.items() if cells}


def read_course(folder: Path | str) -> CourseFolder:
    """Read and check a whole course folder; never raises for what is inside it."""
    root = Path(folder)
    problems: list[Problem] = []
    if not root.is_dir():
        problems.append(Problem(str(root), "is not a folder."))
        return CourseFolder(root, CourseConfig(name="course"), [], problems)
    config = read_course_config(root, problems)
    notebooks = []
    for path in course_notebooks(root):
        settings = read_notebook(path, path.relative_to(root).as_posix(), problems)
        if settings is not None:
            notebooks.append(settings)
    if not notebooks and not any(p.severity == "error" for p in problems):
        message = "no notebooks (*.ipynb) found: the tutor has nothing to teach from."
        problems.append(Problem(".", message, "warning"))
    return CourseFolder(root, config, notebooks, problems)
