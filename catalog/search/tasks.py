"""Search background work, run by Celery (in-process when no broker is configured)."""
from __future__ import annotations

from celery import shared_task

from catalog.search.services import index_products


@shared_task(name="catalog.search.tasks.index_changed_products")
def index_changed_products() -> dict[str, int]:
    """Index every product whose text changed since it was last indexed (beat runs this every few minutes;
    a run that finds nothing to do costs one scan of the catalog's text). Idempotent."""
    report = index_products()
    return {"checked": report.checked, "indexed": report.indexed, "generation": report.generation}


@shared_task(name="catalog.search.tasks.index_products_by_id")
def index_products_by_id(product_ids: list[int]) -> dict[str, int]:
    """Index the given products now (for callers that know what they changed, e.g. an admin action)."""
    report = index_products(product_ids=product_ids)
    return {"checked": report.checked, "indexed": report.indexed, "generation": report.generation}
