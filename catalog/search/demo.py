"""Search's part of `manage.py seed_demo` (settings.DEMO_SEEDERS, after catalog.demo.seed): index the demo
catalog, so the demo store's search box works from the first page view."""
from __future__ import annotations

from typing import TextIO

from catalog.search.services import index_products


def seed(*, stdout: TextIO | None = None) -> None:
    """Index every product whose text changed (all of them on a fresh store; none on a re-run)."""
    report = index_products()
    if stdout is not None:
        stdout.write(f"Search index: {report.checked} products checked, {report.indexed} indexed.\n")
