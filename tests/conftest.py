"""Suite-wide fixtures. The suite runs on whatever DATABASE_URL names (SQLite by default, PostgreSQL in CI)."""
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.cache import cache
from django.db import connection

from shop.celery import app as celery_app

CI_STRICT_SERVICES = os.environ.get("CI_STRICT_SERVICES") == "1"


@pytest.fixture(autouse=True)
def _isolated_cache_and_eager_tasks():
    """Each test starts with an empty cache (throttle counters live there) and runs Celery tasks in-process;
    the tests that need a real broker switch eager mode off themselves."""
    cache.clear()
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous
    cache.clear()


@pytest.fixture
def require_postgres(db):
    """For tests that need real row locks. In CI (CI_STRICT_SERVICES=1) a missing PostgreSQL is a failure."""
    if connection.vendor != "postgresql":
        if CI_STRICT_SERVICES:
            pytest.fail("this test needs PostgreSQL: set DATABASE_URL")
        pytest.skip("needs PostgreSQL (set DATABASE_URL=postgres://...)")


@pytest.fixture
def require_redis():
    """For tests that need a real Redis broker."""
    url = os.environ.get("REDIS_URL", "")
    if not url:
        if CI_STRICT_SERVICES:
            pytest.fail("this test needs Redis: set REDIS_URL")
        pytest.skip("needs Redis (set REDIS_URL=redis://...)")
    return url


# ---- browser tests: one headless Debian Chromium per session, shared by every e2e test ----

# Playwright's sync API runs an asyncio loop in this thread; the test body's ORM calls are still plain
# synchronous code, which Django would otherwise refuse to run "from an async context".
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
# No sandbox: CI runs as root in a container. The rest keeps the browser from phoning home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    # Keep each phase's report on the test item, so the page fixture's teardown knows whether the test failed.
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def browser():
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        message = f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("CI_STRICT_SERVICES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server, request: pytest.FixtureRequest) -> Iterator:
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        (ARTIFACTS / f"{name}.html").write_text(page.content())
    context.close()
