"""Recommender background work, run by Celery (in-process when no broker is configured)."""
from celery import shared_task

from recommender.services import recommendations_refresh


@shared_task(name="recommender.tasks.refresh_recommendations")
def refresh_recommendations(user_ids: list[int] | None = None) -> dict:
    """Refresh the stored top 50 of every active shopper (or of user_ids): on the beat schedule, from the
    admin action and from `manage.py refresh_recommendations`. Idempotent, so a redelivery is harmless."""
    result = recommendations_refresh(user_ids=user_ids)
    return {
        "shoppers": result.shoppers,
        "written": result.written,
        "strategy": result.strategy,
        "model_version": result.model_version,
        "seconds": result.seconds,
        "failed_chunks": result.failed_chunks,
    }
