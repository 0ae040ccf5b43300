import pytest

from shop import services
from shop.errors import ApplicationError
from shop.models import Cart, CartItem
from shop.selectors import Owner, cart_summary
from catalog.models import ShopperEvent


def test_cart_add_item_adds_to_an_existing_line_and_records_an_add_to_cart_event(shopper, make_variant, cart_with):
    variant = make_variant(stock=10)
    cart = cart_with(shopper)

    services.cart_add_item(cart=cart, sku=variant.sku, quantity=2)
    services.cart_add_item(cart=cart, sku=variant.sku, quantity=3)

    assert list(cart.items.values_list("variant_id", "quantity")) == [(variant.pk, 5)]
    assert ShopperEvent.objects.filter(kind="add_to_cart", user=shopper, product=variant.product).count() == 2


@pytest.mark.parametrize(
    ("quantity", "code"),
    [(0, "invalid_quantity"), (-1, "invalid_quantity"), (100, "quantity_too_large"), (10**12, "quantity_too_large")],
)
def test_cart_add_item_refuses_out_of_range_quantities(shopper, make_variant, cart_with, quantity, code):
    variant = make_variant(stock=10**6)
    cart = cart_with(shopper)

    with pytest.raises(ApplicationError) as error:
        services.cart_add_item(cart=cart, sku=variant.sku, quantity=quantity)

    assert (error.value.code, error.value.status_code) == (code, 400)
    assert not cart.items.exists()


def test_cart_add_item_refuses_an_unknown_sku(shopper, cart_with):
    with pytest.raises(ApplicationError) as error:
        services.cart_add_item(cart=cart_with(shopper), sku="NOPE", quantity=1)

    assert (error.value.code, error.value.status_code, error.value.fields) == ("unknown_sku", 400, {"sku": ["unknown SKU"]})


def test_cart_add_item_refuses_more_than_the_stock_counting_what_is_already_in_the_cart(shopper, make_variant, cart_with):
    variant = make_variant(stock=3)
    cart = cart_with(shopper, {variant: 2})

    with pytest.raises(ApplicationError) as error:
        services.cart_add_item(cart=cart, sku=variant.sku, quantity=2)

    assert (error.value.code, error.value.status_code) == ("insufficient_stock", 409)
    assert "only 3 left" in error.value.message
    assert cart.items.get().quantity == 2


@pytest.mark.parametrize("what", ["variant", "product"])
def test_cart_add_item_refuses_an_inactive_variant_or_product(shopper, make_variant, cart_with, what):
    variant = make_variant(is_active=what != "variant", product_active=what != "product")

    with pytest.raises(ApplicationError) as error:
        services.cart_add_item(cart=cart_with(shopper), sku=variant.sku, quantity=1)

    assert (error.value.code, error.value.status_code) == ("variant_unavailable", 409)


def test_cart_update_and_remove_only_reach_lines_of_the_same_cart(shopper, other_shopper, make_variant, cart_with):
    variant = make_variant()
    theirs = cart_with(other_shopper, {variant: 1})
    mine = cart_with(shopper)
    their_item = theirs.items.get()

    with pytest.raises(ApplicationError) as update_error:
        services.cart_update_item(cart=mine, item_id=their_item.pk, quantity=3)
    with pytest.raises(ApplicationError) as remove_error:
        services.cart_remove_item(cart=mine, item_id=their_item.pk)

    assert update_error.value.status_code == remove_error.value.status_code == 404
    assert CartItem.objects.get(pk=their_item.pk).quantity == 1


def test_cart_update_item_sets_the_quantity_within_stock(shopper, make_variant, cart_with):
    variant = make_variant(stock=4)
    cart = cart_with(shopper, {variant: 1})
    item = cart.items.get()

    services.cart_update_item(cart=cart, item_id=item.pk, quantity=4)
    with pytest.raises(ApplicationError) as error:
        services.cart_update_item(cart=cart, item_id=item.pk, quantity=5)

    assert error.value.code == "insufficient_stock"
    assert cart.items.get().quantity == 4


def test_cart_merge_adds_guest_quantities_to_the_account_cart_capped_at_stock(shopper, make_variant, cart_with):
    shared = make_variant(stock=5)
    guest_only = make_variant(stock=10)
    sold_out = make_variant(stock=1)
    account_cart = cart_with(shopper, {shared: 3})
    guest_cart = cart_with(None, {shared: 4, guest_only: 2, sold_out: 1}, session_key="guest-session-1")
    sold_out.stock = 0
    sold_out.save()

    merged = services.cart_merge(user=shopper, session_key="guest-session-1")

    assert merged.pk == account_cart.pk
    assert dict(merged.items.values_list("variant_id", "quantity")) == {shared.pk: 5, guest_only.pk: 2}
    assert not Cart.objects.filter(pk=guest_cart.pk).exists()


def test_cart_merge_makes_the_guest_cart_the_account_cart_when_the_user_has_none(shopper, make_variant, cart_with):
    variant = make_variant(stock=5)
    cart_with(None, {variant: 2}, session_key="guest-session-2")

    merged = services.cart_merge(user=shopper, session_key="guest-session-2")

    assert merged.user == shopper
    assert cart_summary(cart=merged).item_count == 2


def test_cart_merge_without_a_guest_cart_changes_nothing(shopper):
    assert services.cart_merge(user=shopper, session_key="no-such-session") is None
    assert services.cart_merge(user=shopper, session_key=None) is None
    assert not Cart.objects.exists()


def test_cart_summary_prices_lines_at_current_prices_and_versions_the_content(shopper, make_variant, cart_with):
    tee = make_variant(price="499.00")
    jeans = make_variant(price="1299.50")
    cart = cart_with(shopper, {tee: 2, jeans: 1})

    summary = cart_summary(cart=cart)
    jeans.price = "1199.50"
    jeans.save()
    repriced = cart_summary(cart=cart)

    assert (summary.subtotal, summary.item_count, summary.currency) == (pytest.approx(2297.50), 3, "INR")
    assert [line.line_total for line in summary.lines] == [998, pytest.approx(1299.50)]
    assert repriced.version != summary.version
    assert repriced.subtotal == pytest.approx(2197.50)


def test_cart_get_or_create_returns_the_same_cart_for_the_same_owner(shopper):
    first = services.cart_get_or_create(owner=Owner(user=shopper))
    second = services.cart_get_or_create(owner=Owner(user=shopper))

    assert first.pk == second.pk
