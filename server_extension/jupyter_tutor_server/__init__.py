"""Jupyter Tutor in the student's Jupyter server: the orchestrator (chat API, context, tools).

Imported as ``jupyter_tutor_server``; enabled on install by
``jupyter-config/server-config/jupyter_tutor.json``.
"""

from __future__ import annotations

from typing import Any


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .app import TutorExtension

    return [{"module": "jupyter_tutor_server.app", "app": TutorExtension}]
