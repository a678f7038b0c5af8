"""Real-browser tests: Playwright's sync API driving Debian's Chromium (`apt-get install chromium`).

`playwright install` cannot download browsers here, so the system binary is used. Without it
the tests skip, unless E2E_REQUIRED is set (CI sets it), in which case they fail.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.db import connections

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]


@pytest.fixture
def browser(monkeypatch):
    """One Chromium per test: Playwright's event loop lives only as long as the test."""
    if not CHROMIUM.exists():
        reason = f"needs Chromium at {CHROMIUM}: apt-get install -y chromium (Debian package 'chromium')"
        if os.environ.get("E2E_REQUIRED"):
            pytest.fail(reason + " — E2E_REQUIRED is set", pytrace=False)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; Django refuses ORM calls from a
    # thread with a running loop unless told it is safe (it is: the loop is Playwright's own).
    # monkeypatch restores the variable after the test (check --deploy refuses it).
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield instance
        instance.close()
        # Connections opened by ORM calls made while Playwright's loop ran would outlive the
        # test and block dropping the test database.
        connections.close_all()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def screenshot(page, request):
    """screenshot("step") saves tests/artifacts/<test name>/<n>-<step>.png (full page)."""
    folder = ARTIFACTS / request.node.name
    folder.mkdir(parents=True, exist_ok=True)
    counter = iter(range(1, 100))

    def _take(step: str, target=None) -> Path:
        path = folder / f"{next(counter):02d}-{step}.png"
        (target or page).screenshot(path=str(path), full_page=True)
        return path

    return _take
