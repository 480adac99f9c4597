"""nbgitpuller links: how instructors hand a course's released material to students.

On JupyterHub the usual way to distribute notebooks is a link that makes each student's
server clone (the first time) or merge (later) a git repository with nbgitpuller, then open
it.  The repository holds the *released* course (``jupyter-tutor course release``), never
its source: its ``.tutor-course`` marker names the course, so the tutor knows which course
a notebook from it belongs to.  The folder it lands in is named after the course (where the
panel looks for the notebooks it cites).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from urllib.parse import quote, urlencode

from jupyter_tutor.protocol import COURSE_MARKER_FILE


class LinkError(ValueError):
    """The link cannot be made; the message says what to give instead."""


def nbgitpuller_link(
    hub_url: str,
    repo: str,
    course: str,
    *,
    branch: str = "",
    open_path: str = "",
    app: str = "lab",
) -> str:
    """The link that pulls ``repo`` into ``~/COURSE`` and opens it (or ``open_path`` in it)."""
    if not hub_url.startswith(("http://", "https://")):
        raise LinkError(f"The hub's URL must start with http:// or https://, not {hub_url!r}.")
    if app not in ("lab", "tree"):
        raise LinkError(f"The app must be 'lab' or 'tree', not {app!r}.")
    where = "/".join(p for p in (course, open_path.strip("/")) if p)
    params = {"repo": repo, "targetpath": course, "urlpath": f"{app}/tree/{where}"}
    if branch:
        params["branch"] = branch
    query = urlencode(params, quote_via=quote, safe="/")
    return f"{hub_url.rstrip('/')}/hub/user-redirect/git-pull?{query}"


def released_course_name(folder: Path) -> str:
    """The course a released folder belongs to, from its ``.tutor-course`` marker."""
    marker = folder / COURSE_MARKER_FILE
    try:
        name = marker.read_text(encoding="utf-8").split()[0]
    except (OSError, IndexError) as err:
        raise LinkError(
            f"{folder} has no {COURSE_MARKER_FILE}: give a folder written by "
            "`jupyter-tutor course release`, or name the course with --course."
        ) from err
    return name


def origin_of(folder: Path) -> str:
    """The URL of the ``origin`` remote of the git checkout ``folder``."""
    try:
        found = subprocess.run(
            ["git", "-C", str(folder), "remote", "get-url", "origin"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError) as err:
        raise LinkError(
            f"{folder} is not a git checkout with an `origin` remote: give the repository "
            "students pull from with --repo."
        ) from err
    return found.stdout.strip()
