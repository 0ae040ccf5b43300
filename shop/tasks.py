"""Ordering background work, run by Celery (in-process when no broker is configured)."""
from celery import shared_task

from shop.services import orders_expire_unpaid


@shared_task(name="shop.tasks.expire_unpaid_orders")
def expire_unpaid_orders() -> int:
    """Cancel orders left unpaid too long (beat runs this every ten minutes); safe to run twice."""
    return orders_expire_unpaid()
