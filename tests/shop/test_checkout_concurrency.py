"""Checkout under real concurrency, on PostgreSQL (row locks; SQLite serialises every write anyway)."""
import threading

import pytest
from django.db import connection

from catalog.models import Variant
from shop import services
from shop.errors import ApplicationError
from shop.models import Order
from tests.shop.conftest import SUCCESS_CARD

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _run_together(jobs):
    """Start every job at the same moment in its own thread (each with its own database connection)."""
    barrier = threading.Barrier(len(jobs))
    results = [None] * len(jobs)

    def run(index, job):
        try:
            barrier.wait()
            results[index] = job()
        except ApplicationError as exc:
            results[index] = exc.code
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def _checkout(cart, address, *, key=""):
    def job():
        order, created = services.order_place(
            cart=cart, email="race@example.com", address=address, shipping_method="standard",
            payment_token=SUCCESS_CARD, idempotency_key=key,
        )
        return order.number, created

    return job


def test_race_twenty_shoppers_for_the_last_five_units_make_exactly_five_orders(require_postgres, make_user, make_variant, cart_with, address):
    variant = make_variant(stock=5)
    carts = [cart_with(make_user(), {variant: 1}) for _ in range(20)]

    results = _run_together([_checkout(cart, address) for cart in carts])

    assert sum(isinstance(result, tuple) for result in results) == 5
    assert sorted(result for result in results if not isinstance(result, tuple)) == ["insufficient_stock"] * 15
    assert Order.objects.count() == 5
    assert Variant.objects.get(pk=variant.pk).stock == 0


def test_race_checkouts_taking_shared_variants_in_opposite_orders_do_not_deadlock(require_postgres, make_user, make_variant, cart_with, address):
    first, second = make_variant(stock=100), make_variant(stock=100)
    carts = [cart_with(make_user(), dict(pair)) for pair in ([(first, 1), (second, 1)], [(second, 1), (first, 1)]) * 5]

    results = _run_together([_checkout(cart, address) for cart in carts])

    assert all(isinstance(result, tuple) and result[1] for result in results)
    assert dict(Variant.objects.filter(pk__in=[first.pk, second.pk]).values_list("pk", "stock")) == {first.pk: 90, second.pk: 90}


def test_idempotent_checkout_submitted_twice_at_once_makes_one_order(require_postgres, shopper, make_variant, cart_with, address):
    variant = make_variant(stock=10)
    cart = cart_with(shopper, {variant: 2})

    results = _run_together([_checkout(cart, address, key="double-click"), _checkout(cart, address, key="double-click")])

    assert results[0][0] == results[1][0]
    assert sorted(created for _number, created in results) == [False, True]
    assert Order.objects.count() == 1
    assert Variant.objects.get(pk=variant.pk).stock == 8


def test_idempotent_checkout_submitted_twice_in_a_row_makes_one_order(require_postgres, shopper, make_variant, cart_with, address):
    variant = make_variant(stock=10)
    cart = cart_with(shopper, {variant: 2})

    first = _checkout(cart, address, key="retry")()
    second = _checkout(cart, address, key="retry")()

    assert first[0] == second[0] and (first[1], second[1]) == (True, False)
    assert Order.objects.count() == 1
