"""Headless Chromium for the browser tests: Debian's package, never a downloaded browser.

The flags keep a root, headless Chromium from reaching for the network this machine does
not have (background updates, sync, QUIC).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

#: Screenshots the tests save, to be looked at.
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def executable() -> str:
    """Debian's Chromium, or skip the test saying how to get it."""
    found = "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
    found = found or shutil.which("chromium")
    if not found:
        pytest.skip("Chromium is missing: apt-get install -y chromium (make test does it)")
    return found


def launch(playwright: Any, user_data_dir: Path, **options: Any) -> Any:
    """A persistent headless context (Playwright's ``launch`` refuses ``--user-data-dir``)."""
    ARTIFACTS.mkdir(exist_ok=True)
    context = playwright.chromium.launch_persistent_context(
        str(user_data_dir), executable_path=executable(), headless=True, args=ARGS, **options
    )
    context.set_default_timeout(30_000)
    return context
