"""``jupyter-tutor course link``: an nbgitpuller link to a course's released material,
checked by a round trip: the link nbgitpuller is given pulls the released course into the
folder named after it, whose marker tells the tutor the course."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from jupyter_tutor_hub.apps.demo import released_sample_course
from jupyter_tutor_hub.policy.gitpuller import LinkError, nbgitpuller_link
from jupyter_tutor_server.course_marker import course_marker

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Instructor",
    "GIT_AUTHOR_EMAIL": "instructor@example.edu",
    "GIT_COMMITTER_NAME": "Instructor",
    "GIT_COMMITTER_EMAIL": "instructor@example.edu",
}


def git(*args: str, cwd: Path) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, env={**os.environ, **GIT_ENV}, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def link_command(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jupyter_tutor.cli", "course", "link", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_link_names_repository_folder_and_page() -> None:
    link = nbgitpuller_link(
        "https://hub.example.edu/",
        "https://git.example.edu/data-python-2026.git",
        "data-python",
        branch="main",
        open_path="01-reading-tables.ipynb",
    )
    parts = urlsplit(link)
    assert (parts.scheme, parts.netloc, parts.path) == (
        "https",
        "hub.example.edu",
        "/hub/user-redirect/git-pull",
    )
    assert {k: v[0] for k, v in parse_qs(parts.query).items()} == {
        "repo": "https://git.example.edu/data-python-2026.git",
        "branch": "main",
        "targetpath": "data-python",
        "urlpath": "lab/tree/data-python/01-reading-tables.ipynb",
    }
    with pytest.raises(LinkError):
        nbgitpuller_link("hub.example.edu", "r", "c")


def test_round_trip_through_nbgitpuller(tmp_path: Path) -> None:
    from nbgitpuller.pull import GitPuller

    # The instructor releases the course into a checkout and pushes it.
    remote = tmp_path / "remote.git"
    git("init", "--bare", "--initial-branch=main", str(remote), cwd=tmp_path)
    released = released_sample_course(tmp_path / "work", "data-python")
    git("init", "--initial-branch=main", cwd=released)
    git("add", "-A", cwd=released)
    git("commit", "-m", "Release week 1", cwd=released)
    git("remote", "add", "origin", str(remote), cwd=released)
    git("push", "origin", "main", cwd=released)

    made = link_command(str(released), "--hub", "http://127.0.0.1:8000", "--branch", "main")
    assert made.returncode == 0, made.stderr
    query = {k: v[0] for k, v in parse_qs(urlsplit(made.stdout.strip()).query).items()}
    assert query["repo"] == str(remote) and query["targetpath"] == "data-python"

    # A student's server follows the link: nbgitpuller pulls into ~/<targetpath>.
    home = tmp_path / "home"
    home.mkdir()
    puller = GitPuller(query["repo"], str(home / query["targetpath"]), branch=query["branch"])
    for _line in puller.pull():
        pass
    notebook = "data-python/01-reading-tables.ipynb"
    assert (home / notebook).is_file()
    assert "### BEGIN SOLUTION" not in (home / notebook).read_text()
    assert course_marker(str(home), notebook) == "data-python"
    assert query["urlpath"] == "lab/tree/data-python"


def test_the_command_says_what_is_missing(tmp_path: Path) -> None:
    no_marker = link_command(str(tmp_path), "--hub", "https://hub.example.edu")
    assert no_marker.returncode == 1 and ".tutor-course" in no_marker.stderr
    nothing = link_command("--hub", "https://hub.example.edu")
    assert nothing.returncode == 1 and "--repo and --course" in nothing.stderr
    given = link_command("--hub", "https://h.edu", "--repo", "https://g/r.git", "--course", "c")
    assert given.returncode == 0 and given.stdout.startswith("https://h.edu/hub/user-redirect/")
