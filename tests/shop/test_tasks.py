import uuid
from datetime import timedelta

import pytest
from celery.contrib.testing.worker import start_worker
from django.utils import timezone

from catalog.models import Variant
from shop.celery import app as celery_app
from shop.models import Order
from shop.tasks import expire_unpaid_orders
from tests.shop.conftest import PENDING_CARD


def _stale_pending_order(shopper, make_variant, place_order):
    variant = make_variant(stock=4)
    order = place_order(shopper, {variant: 3}, card=PENDING_CARD)
    Order.objects.filter(pk=order.pk).update(created_at=timezone.now() - timedelta(hours=2))
    return order, variant


def test_expire_unpaid_orders_is_scheduled_by_beat(settings):
    schedule = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}

    assert expire_unpaid_orders.name in schedule


def test_expire_unpaid_orders_task_cancels_stale_pending_orders(shopper, make_variant, place_order):
    order, variant = _stale_pending_order(shopper, make_variant, place_order)

    result = expire_unpaid_orders.delay()

    assert result.get() == 1
    assert Order.objects.get(pk=order.pk).status == "cancelled"
    assert Variant.objects.get(pk=variant.pk).stock == 4


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_expire_unpaid_orders_runs_on_a_worker_through_redis(require_redis, shopper, make_variant, place_order):
    order, variant = _stale_pending_order(shopper, make_variant, place_order)
    celery_app.conf.task_always_eager = False  # the suite's autouse fixture restores it
    # A queue of its own, so the worker takes only this test's message, whatever else waits in Redis.
    queue = f"test-shop-{uuid.uuid4().hex}"

    with start_worker(celery_app, pool="solo", perform_ping_check=False, queues=[queue], shutdown_timeout=10):
        cancelled = expire_unpaid_orders.apply_async(queue=queue).get(timeout=60)

    assert cancelled == 1
    assert Order.objects.get(pk=order.pk).status == "cancelled"
    assert Variant.objects.get(pk=variant.pk).stock == 4
