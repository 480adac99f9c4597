"""Which course a notebook belongs to, as the released course folder says.

``jupyter-tutor course release`` writes :data:`COURSE_MARKER_FILE` at the top of the
student version; the nearest one above the notebook (inside the server root) names the
course.  It is only a hint: the gateway accepts it only for a course the student is in.
"""

from __future__ import annotations

import os
import re

from jupyter_tutor.protocol import COURSE_MARKER_FILE

_COURSE_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def course_marker(root_dir: str, notebook_path: str | None) -> str | None:
    """The course named by the nearest marker above ``notebook_path`` (root-relative)."""
    if not notebook_path:
        return None
    root = os.path.realpath(root_dir)
    folder = os.path.dirname(os.path.join(root, *notebook_path.split("/")))
    while os.path.commonpath([root, folder]) == root:
        marker = os.path.join(folder, COURSE_MARKER_FILE)
        if os.path.isfile(marker):
            try:
                with open(marker, encoding="utf-8") as f:
                    name = f.readline(100).strip()
            except (OSError, UnicodeDecodeError):
                return None
            return name if _COURSE_NAME.match(name) else None
        if folder == root:
            break
        folder = os.path.dirname(folder)
    return None
