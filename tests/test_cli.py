"""The ``jupyter-tutor`` command's own failures: one sentence that says what to do."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from jupyter_tutor_hub.course.embedder import Embedder

# Hides a module the way a missing package does (``import psycopg`` raises
# ModuleNotFoundError), then runs the command as ``jupyter-tutor ARGS`` would.
_WITHOUT = """
import sys
sys.modules[{module!r}] = None
from jupyter_tutor.cli import main
sys.argv = ["jupyter-tutor", *{args!r}]
main()
"""


def _run_without(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    code = _WITHOUT.format(module=module, args=list(args))
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )


def test_a_hub_command_without_the_hub_extra_names_the_extra() -> None:
    done = _run_without("psycopg", "ingest", "some-course")
    assert done.returncode == 1
    assert "pip install 'jupyter-tutor[hub]'" in done.stderr
    assert "Traceback" not in done.stderr


class ExplodingEmbedder(Embedder):
    """Fails as soon as it is made: the model must never be loaded for a missing course."""

    def __init__(self, **kwargs: object) -> None:
        raise AssertionError("the embedder was loaded")


def test_search_checks_the_course_before_loading_the_model(
    empty_database_url: str, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "TUTOR_DATABASE_URL": empty_database_url,
        "TUTOR_DATA_DIR": str(tmp_path / "data"),
        "PYTHONPATH": str(Path(__file__).resolve().parent),
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "jupyter_tutor.cli",
            "search",
            "--course",
            "nope",
            # An embedder whose construction fails: it must never be reached.
            "--CourseApp.embedder_class=test_cli.ExplodingEmbedder",
            "anything",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode != 0
    assert "'nope' is not in the tutor's database" in done.stderr
