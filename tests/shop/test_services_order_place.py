import re
from decimal import Decimal

import pytest

from catalog.models import ShopperEvent, Variant
from shop import services
from shop.errors import ApplicationError
from shop.models import Order, OrderStatus
from shop.selectors import cart_summary
from tests.shop.conftest import DECLINED_CARD, PENDING_CARD, SUCCESS_CARD


def _place(cart, address, *, method="standard", card=SUCCESS_CARD, key="", version="", actor=None):
    return services.order_place(
        cart=cart, email="asha@example.com", address=address, shipping_method=method, payment_token=card,
        idempotency_key=key, expected_cart_version=version, actor=actor,
    )


def test_order_place_copies_prices_computes_totals_and_takes_the_stock(shopper, make_variant, cart_with, address):
    tee = make_variant(price="499.00", stock=10, colour="Blue", size="L")
    cap = make_variant(price="250.00", stock=3)
    cart = cart_with(shopper, {tee: 2, cap: 1})

    order, created = _place(cart, address, actor=shopper)

    assert created
    assert (order.subtotal, order.shipping_cost, order.total) == (Decimal("1248.00"), Decimal("99.00"), Decimal("1347.00"))
    assert [(line.sku, line.unit_price, line.quantity, line.line_total, line.variant_label) for line in order.lines.all()] == [
        (tee.sku, Decimal("499.00"), 2, Decimal("998.00"), "Blue / L"),
        (cap.sku, Decimal("250.00"), 1, Decimal("250.00"), "Red / M"),
    ]
    assert dict(Variant.objects.filter(pk__in=[tee.pk, cap.pk]).values_list("pk", "stock")) == {tee.pk: 8, cap.pk: 2}
    assert order.user == shopper and order.owner_key == f"user:{shopper.pk}"
    assert order.shipping_city == "Bengaluru"


def test_order_lines_keep_their_price_and_title_when_the_catalog_changes(shopper, make_variant, cart_with, address):
    tee = make_variant(price="499.00", title="Cotton tee")
    order, _ = _place(cart_with(shopper, {tee: 1}), address)

    Variant.objects.filter(pk=tee.pk).update(price=Decimal("899.00"))
    tee.product.title = "Renamed tee"
    tee.product.save()

    line = order.lines.get()
    assert (line.unit_price, line.product_title, line.product_slug) == (Decimal("499.00"), "Cotton tee", tee.product.slug)


@pytest.mark.parametrize(
    ("method", "price", "shipping"),
    [("standard", "1499.00", "0.00"), ("standard", "1498.99", "99.00"), ("express", "5000.00", "249.00")],
)
def test_order_place_charges_shipping_by_method_with_free_standard_over_the_threshold(shopper, make_variant, cart_with, address, method, price, shipping):
    order, _ = _place(cart_with(shopper, {make_variant(price=price): 1}), address, method=method)

    assert order.shipping_cost == Decimal(shipping)
    assert order.total == Decimal(price) + Decimal(shipping)


def test_order_place_pays_empties_the_cart_records_history_and_purchase_events(shopper, make_variant, cart_with, address):
    tee = make_variant()
    cart = cart_with(shopper, {tee: 1})

    order, _ = _place(cart, address, actor=shopper)

    assert order.status == OrderStatus.PAID
    assert order.payment_reference.startswith("test_ch_")
    assert not cart.items.exists()
    assert list(order.status_changes.values_list("from_status", "to_status", "actor_label")) == [
        ("", "pending_payment", "shopper"),
        ("pending_payment", "paid", "payment provider"),
    ]
    assert ShopperEvent.objects.filter(kind="purchase", user=shopper, product=tee.product).count() == 1


def test_checkout_with_same_idempotency_key_returns_same_order(shopper, make_variant, cart_with, address):
    tee = make_variant(stock=10)
    cart = cart_with(shopper, {tee: 2})

    first, first_created = _place(cart, address, key="key-1")
    services.cart_add_item(cart=cart, sku=tee.sku, quantity=1)
    again, again_created = _place(cart, address, key="key-1")

    assert (first_created, again_created) == (True, False)
    assert again.pk == first.pk
    assert Order.objects.count() == 1
    assert Variant.objects.get(pk=tee.pk).stock == 8


def test_the_same_idempotency_key_from_two_owners_makes_two_orders(shopper, other_shopper, make_variant, cart_with, address):
    tee = make_variant(stock=10)

    mine, _ = _place(cart_with(shopper, {tee: 1}), address, key="shared-key")
    theirs, created = _place(cart_with(other_shopper, {tee: 1}), address, key="shared-key")

    assert created and mine.pk != theirs.pk


def test_order_place_refuses_an_empty_cart(shopper, cart_with, address):
    with pytest.raises(ApplicationError) as error:
        _place(cart_with(shopper), address)

    assert (error.value.code, error.value.status_code) == ("cart_empty", 400)


def test_order_place_refuses_a_cart_that_changed_since_it_was_reviewed(shopper, make_variant, cart_with, address):
    tee = make_variant(stock=10, price="499.00")
    cart = cart_with(shopper, {tee: 1})
    reviewed = cart_summary(cart=cart).version
    Variant.objects.filter(pk=tee.pk).update(price=Decimal("599.00"))

    with pytest.raises(ApplicationError) as error:
        _place(cart, address, version=reviewed)

    assert (error.value.code, error.value.status_code) == ("cart_changed", 409)
    assert Variant.objects.get(pk=tee.pk).stock == 10
    assert cart.items.count() == 1 and not Order.objects.exists()


def test_order_place_accepts_the_current_cart_version(shopper, make_variant, cart_with, address):
    cart = cart_with(shopper, {make_variant(): 1})

    _order, created = _place(cart, address, version=cart_summary(cart=cart).version)

    assert created


def test_a_declined_card_leaves_no_order_and_keeps_the_stock_and_cart(shopper, make_variant, cart_with, address):
    tee = make_variant(stock=5)
    cart = cart_with(shopper, {tee: 2})

    with pytest.raises(ApplicationError) as error:
        _place(cart, address, card=DECLINED_CARD)

    assert (error.value.code, error.value.status_code) == ("card_declined", 402)
    assert "declined" in error.value.message
    assert not Order.objects.exists()
    assert Variant.objects.get(pk=tee.pk).stock == 5
    assert cart.items.get().quantity == 2


def test_an_unknown_card_number_is_refused_naming_the_test_card(shopper, make_variant, cart_with, address):
    with pytest.raises(ApplicationError) as error:
        _place(cart_with(shopper, {make_variant(): 1}), address, card="1234")

    assert error.value.code == "invalid_card"
    assert "4242 4242 4242 4242" in error.value.message


def test_a_pending_payment_leaves_the_order_pending_with_the_stock_reserved(shopper, make_variant, cart_with, address):
    tee = make_variant(stock=5)

    order, _ = _place(cart_with(shopper, {tee: 2}), address, card=PENDING_CARD)

    assert order.status == OrderStatus.PENDING_PAYMENT
    assert Variant.objects.get(pk=tee.pk).stock == 3


def test_order_place_refuses_more_than_the_stock_left(shopper, make_variant, cart_with, address):
    tee = make_variant(stock=5)
    cart = cart_with(shopper, {tee: 5})
    Variant.objects.filter(pk=tee.pk).update(stock=4)

    with pytest.raises(ApplicationError) as error:
        _place(cart, address)

    assert (error.value.code, error.value.status_code) == ("insufficient_stock", 409)
    assert Variant.objects.get(pk=tee.pk).stock == 4


def test_order_place_refuses_an_unknown_shipping_method(shopper, make_variant, cart_with, address):
    with pytest.raises(ApplicationError) as error:
        _place(cart_with(shopper, {make_variant(): 1}), address, method="drone")

    assert (error.value.code, error.value.status_code) == ("invalid_shipping_method", 400)


def test_a_guest_order_belongs_to_the_session(make_variant, cart_with, address):
    cart = cart_with(None, {make_variant(): 1}, session_key="guest-abc")

    order, _ = _place(cart, address)

    assert order.user is None and order.owner_key == "session:guest-abc"


def test_order_numbers_are_unique_and_not_sequential(shopper, make_variant, cart_with, address):
    numbers = [_place(cart_with(shopper, {make_variant(): 1}), address)[0].number for _ in range(5)]

    assert len(set(numbers)) == 5
    assert all(re.fullmatch(r"AI-[A-HJ-NP-Z2-9]{10}", number) for number in numbers)
    # Not a counter: consecutive orders differ well before the last characters.
    assert all(a[:-2] != b[:-2] for a, b in zip(numbers, numbers[1:]))
