"""The instructors' dashboard in a real browser: Debian's Chromium driven by Playwright,
signing in through the real JupyterHub's login page and OAuth, on a seeded database.

The screenshot lands in ``test-artifacts/dashboard.png`` (gitignored): look at it.
"""

from __future__ import annotations

import re
from pathlib import Path

import chromium
import pytest
from policy_fixtures import publish_course, seed_activity, write_course

pytestmark = pytest.mark.browser

COURSE = "ds-browser"


def _sign_in(context, hub, user: str):
    """Open the dashboard; the hub asks who we are, then sends us back through OAuth."""
    page = context.new_page()
    page.goto(f"{hub.url}/services/tutor/dashboard/?course={COURSE}")
    page.wait_for_selector("#username_input")
    page.fill("#username_input", user)
    page.fill("#password_input", hub.password)
    page.click("#login_submit")
    page.wait_for_url(re.compile(r".*/services/tutor/dashboard/\?course=" + COURSE))
    return page


def test_dashboard_renders_for_instructors_only(hub, hub_database_url, tmp_path) -> None:
    chromium.executable()  # skip early, with the way out, when Chromium is missing
    from playwright.sync_api import sync_playwright

    publish_course(hub_database_url, write_course(tmp_path / "c", read_conversations=True), COURSE)
    seed_activity(hub_database_url, COURSE)
    with sync_playwright() as playwright:

        def browser(name: str):
            return chromium.launch(
                playwright,
                tmp_path / name,
                viewport={"width": 1200, "height": 900},
                accept_downloads=True,
            )

        instructor = browser("instructor")
        try:
            page = _sign_in(instructor, hub, "instructor1")
            page.wait_for_selector("#questions svg rect")
            assert page.title() == "Tutor dashboard: Policy test course"
            assert page.locator(".tile").count() == 7
            for section in ("questions", "errors", "days", "votes", "adoption"):
                assert page.locator(f"#{section} svg").count() >= 1, section
            assert page.locator("#attention tbody tr").count() >= 2
            assert "NameError" in page.locator("#errors").inner_text()
            adoption = page.locator("#adoption").inner_text()
            assert re.search(r"\d+ of \d+ active students used the tutor", adoption), adoption
            page.screenshot(path=str(chromium.ARTIFACTS / "dashboard.png"), full_page=True)

            with page.expect_download() as download:
                page.locator("#errors h2 a").click()
            exported = Path(download.value.path()).read_text()
            assert exported.splitlines()[0] == "error,questions,students"
            assert "NameError" in exported

            page.locator("#conversations tbody a").first.click()
            page.wait_for_selector(".message")
            assert "Look at the loop variable." in page.inner_text("main")
        finally:
            instructor.close()

        student = browser("student")
        try:
            page = _sign_in(student, hub, "student1")
            assert "not an instructor" in page.inner_text("main")
            assert page.locator("svg").count() == 0
        finally:
            student.close()
