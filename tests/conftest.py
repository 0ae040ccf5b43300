"""Suite-wide fixtures. The suite runs on whatever DATABASE_URL names (SQLite by default, PostgreSQL in CI)."""
import os

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
