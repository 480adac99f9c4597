"""The course a student picked for each notebook, remembered across questions and restarts.

When a student is in several courses and a notebook does not say which one it belongs to
(no ``.tutor-course`` marker above it), the gateway answers ``course_choice_required`` and
the panel or ``%tutor`` asks the student to pick.  The pick travels with the next question
(``context.course``) and is remembered here, per notebook, so the panel and the magics of
the same notebook share it and it is asked once.  It is only the student's word: the
gateway accepts it only for a course the student is in, and a pick it refuses
(``course_forbidden``) is forgotten so the student is asked again.
"""

from __future__ import annotations

import json
import os
import tempfile


class CoursePicks:
    """Picks by notebook (root-relative path), in a small JSON file (None: in memory only)."""

    def __init__(self, path: str | None, root_dir: str) -> None:
        self.path = path
        self._root = os.path.realpath(root_dir)
        self._picks: dict[str, str] = self._load()

    def _key(self, notebook: str) -> str:
        # One file may serve several servers of the same user (other root folders).
        return os.path.join(self._root, notebook)

    def _load(self) -> dict[str, str]:
        if not self.path:
            return {}
        try:
            with open(self.path, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict):
            return {}
        return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}

    def get(self, notebook: str | None) -> str | None:
        """The course picked for ``notebook``, if any."""
        return self._picks.get(self._key(notebook)) if notebook else None

    def remember(self, notebook: str | None, course: str) -> None:
        """Remember ``course`` for ``notebook`` (a question without a notebook: nothing)."""
        if notebook and self._picks.get(self._key(notebook)) != course:
            self._picks[self._key(notebook)] = course
            self._save()

    def forget(self, notebook: str | None) -> None:
        """Forget the pick of ``notebook`` (the gateway refused it)."""
        if notebook and self._picks.pop(self._key(notebook), None) is not None:
            self._save()

    def _save(self) -> None:
        if not self.path:
            return
        folder = os.path.dirname(self.path) or "."
        try:
            os.makedirs(folder, exist_ok=True)
            fd, temporary = tempfile.mkstemp(dir=folder, prefix=".course_picks")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(self._picks, f, indent=1, sort_keys=True)
            os.replace(temporary, self.path)
        except OSError:
            # Remembering is a convenience: the student is asked again after a restart.
            pass
