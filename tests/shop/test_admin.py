import pytest

from shop import services
from shop.models import Order


@pytest.fixture
def staff_client(client, make_user):
    client.force_login(make_user("boss", is_staff=True, is_superuser=True))
    return client


def _run_action(client, action, orders):
    return client.post(
        "/admin/shop/order/", {"action": action, "_selected_action": [order.pk for order in orders]}, follow=True
    )


def test_the_order_admin_lists_searches_and_filters(staff_client, shopper, other_shopper, place_order):
    mine, theirs = place_order(shopper), place_order(other_shopper)
    services.order_ship(order=theirs)

    listing = staff_client.get("/admin/shop/order/")
    by_email = staff_client.get("/admin/shop/order/", {"q": shopper.email})
    by_status = staff_client.get("/admin/shop/order/", {"status__exact": "shipped"})
    detail = staff_client.get(f"/admin/shop/order/{mine.pk}/change/")

    assert listing.status_code == by_email.status_code == detail.status_code == 200
    assert mine.number in by_email.content.decode() and theirs.number not in by_email.content.decode()
    assert theirs.number in by_status.content.decode() and mine.number not in by_status.content.decode()
    assert b"status history" in detail.content.lower()


def test_admin_status_actions_apply_valid_transitions_and_report_refused_ones(staff_client, shopper, place_order):
    paid, cancelled = place_order(shopper), services.order_cancel(order=place_order(shopper))

    response = _run_action(staff_client, "order_ship", [paid, cancelled])

    assert Order.objects.get(pk=paid.pk).status == "shipped"
    assert Order.objects.get(pk=cancelled.pk).status == "cancelled"
    text = response.content.decode()
    assert "Mark as shipped: 1 order(s) updated." in text
    assert f"{cancelled.number}: Order {cancelled.number} is cancelled and cannot become shipped." in text
    assert Order.objects.get(pk=paid.pk).status_changes.last().actor_label == "staff"


def test_admin_delivers_then_refunds_a_returned_order(staff_client, shopper, place_order):
    order = services.order_ship(order=place_order(shopper))

    _run_action(staff_client, "order_deliver", [order])
    services.order_request_return(order=order, actor=shopper)
    _run_action(staff_client, "order_refund", [order])

    assert Order.objects.get(pk=order.pk).status == "refunded"


def test_admin_edits_the_address_before_shipping_through_the_service(staff_client, shopper, place_order):
    order = place_order(shopper)
    form = {
        "shipping_name": "Asha Rao", "shipping_line1": "4 Park Street", "shipping_line2": "", "shipping_city": "Kolkata",
        "shipping_postcode": "700016", "shipping_country": "IN", "shipping_phone": "",
    }
    inline_management = {
        f"{prefix}-{key}": value
        for prefix in ("lines", "status_changes")
        for key, value in {"TOTAL_FORMS": "0", "INITIAL_FORMS": "0", "MIN_NUM_FORMS": "0", "MAX_NUM_FORMS": "1000"}.items()
    }

    response = staff_client.post(f"/admin/shop/order/{order.pk}/change/", {**form, **inline_management})

    assert response.status_code == 302
    order.refresh_from_db()
    assert order.shipping_city == "Kolkata"
    assert order.status_changes.last().note == "shipping address changed"


def test_orders_cannot_be_added_or_deleted_in_the_admin(staff_client, shopper, place_order):
    order = place_order(shopper)

    assert staff_client.get("/admin/shop/order/add/").status_code == 403
    assert staff_client.get(f"/admin/shop/order/{order.pk}/delete/").status_code == 403


def test_the_cart_admin_shows_carts_read_only(staff_client, shopper, make_variant, cart_with):
    cart = cart_with(shopper, {make_variant(): 2})

    assert staff_client.get("/admin/shop/cart/").status_code == 200
    assert staff_client.get(f"/admin/shop/cart/{cart.pk}/change/").status_code == 200
