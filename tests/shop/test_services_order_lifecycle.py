from datetime import timedelta

import pytest
from django.utils import timezone

from catalog.models import Variant
from shop import services
from shop.errors import ApplicationError
from shop.models import Order, OrderStatus
from tests.shop.conftest import PENDING_CARD


def test_an_order_moves_through_paid_shipped_delivered_return_and_refund_recording_each_change(shopper, make_user, place_order):
    staff = make_user("staffer", is_staff=True)
    order = place_order(shopper)

    order = services.order_ship(order=order, tracking_number="DTDC123", actor=staff)
    order = services.order_deliver(order=order, actor=None)
    order = services.order_request_return(order=order, actor=shopper, reason="too small")
    order = services.order_refund(order=order, actor=staff)

    assert order.status == OrderStatus.REFUNDED
    assert order.tracking_number == "DTDC123"
    assert list(order.status_changes.values_list("to_status", "actor_label", "actor")) == [
        ("pending_payment", "shopper", shopper.pk),
        ("paid", "payment provider", None),
        ("shipped", "staff", staff.pk),
        ("delivered", "system", None),
        ("return_requested", "shopper", shopper.pk),
        ("refunded", "staff", staff.pk),
    ]
    assert order.status_changes.get(to_status="return_requested").note == "too small"


def test_order_ship_issues_a_tracking_number_when_none_is_given(shopper, place_order):
    order = services.order_ship(order=place_order(shopper))

    assert order.tracking_number.startswith("AIS") and len(order.tracking_number) == 13


@pytest.mark.parametrize(
    ("path", "service"),
    [
        ([], services.order_deliver),
        ([], services.order_refund),
        ([], services.order_request_return),
        ([services.order_ship], services.order_cancel),
        ([services.order_ship], services.order_mark_paid),
        ([services.order_ship, services.order_deliver], services.order_ship),
        ([services.order_cancel], services.order_cancel),
        ([services.order_cancel], services.order_mark_paid),
    ],
)
def test_invalid_transitions_are_refused_with_invalid_transition(shopper, place_order, path, service):
    order = place_order(shopper)
    for step in path:
        order = step(order=order)
    before = order.status

    with pytest.raises(ApplicationError) as error:
        service(order=order)

    assert (error.value.code, error.value.status_code) == ("invalid_transition", 409)
    assert Order.objects.get(pk=order.pk).status == before


def test_a_transition_checks_the_stored_status_not_a_stale_copy(shopper, place_order):
    order = place_order(shopper)
    stale = Order.objects.get(pk=order.pk)
    services.order_ship(order=order)

    with pytest.raises(ApplicationError) as error:
        services.order_cancel(order=stale)

    assert error.value.code == "invalid_transition"


def test_cancelling_restores_the_stock_and_refunds(shopper, make_variant, place_order):
    tee, cap = make_variant(stock=10), make_variant(stock=3)
    order = place_order(shopper, {tee: 4, cap: 3})

    cancelled = services.order_cancel(order=order, actor=shopper, actor_label="shopper", reason="changed my mind")

    assert cancelled.status == OrderStatus.CANCELLED
    assert dict(Variant.objects.filter(pk__in=[tee.pk, cap.pk]).values_list("pk", "stock")) == {tee.pk: 10, cap.pk: 3}
    assert cancelled.status_changes.last().note == "changed my mind"


def test_a_pending_order_can_be_paid_later(shopper, place_order):
    order = place_order(shopper, card=PENDING_CARD)

    paid = services.order_mark_paid(order=order, payment_reference="bank-789")

    assert (paid.status, paid.payment_reference) == (OrderStatus.PAID, "bank-789")


def test_the_shipping_address_can_change_until_the_order_ships(shopper, place_order, address):
    order = place_order(shopper)
    new_address = services.ShippingAddress(name="Asha Rao", line1="4 Park Street", city="Kolkata", postcode="700016")

    changed = services.order_change_shipping_address(order=order, address=new_address, actor=shopper)
    change_note = changed.status_changes.last().note
    shipped = services.order_ship(order=changed)
    with pytest.raises(ApplicationError) as error:
        services.order_change_shipping_address(order=shipped, address=address, actor=shopper)

    assert (changed.shipping_city, changed.status) == ("Kolkata", OrderStatus.PAID)
    assert change_note == "shipping address changed"
    assert (error.value.code, error.value.status_code) == ("address_locked", 409)
    assert Order.objects.get(pk=order.pk).shipping_city == "Kolkata"


def test_orders_expire_unpaid_cancels_only_stale_pending_orders_and_releases_their_stock(shopper, make_variant, place_order, settings):
    settings.ORDER_UNPAID_EXPIRY_MINUTES = 30
    stale_variant, fresh_variant, paid_variant = make_variant(stock=5), make_variant(stock=5), make_variant(stock=5)
    stale = place_order(shopper, {stale_variant: 2}, card=PENDING_CARD)
    fresh = place_order(shopper, {fresh_variant: 2}, card=PENDING_CARD)
    paid = place_order(shopper, {paid_variant: 2})
    Order.objects.filter(pk__in=[stale.pk, paid.pk]).update(created_at=timezone.now() - timedelta(minutes=31))

    cancelled = services.orders_expire_unpaid()

    assert cancelled == 1
    statuses = dict(Order.objects.values_list("pk", "status"))
    assert statuses == {stale.pk: "cancelled", fresh.pk: "pending_payment", paid.pk: "paid"}
    assert Variant.objects.get(pk=stale_variant.pk).stock == 5
    assert Order.objects.get(pk=stale.pk).status_changes.last().actor_label == "system"
    assert services.orders_expire_unpaid() == 0
