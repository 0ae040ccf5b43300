"""The printable invoice page: for the signed-in shopper who placed the order (and staff), 404 for anyone
else, sign-in first for visitors, and everything on it escaped."""
import pytest
from django.urls import reverse

from shop.models import OrderLine


@pytest.fixture
def order(place_order, shopper):
    return place_order(shopper)


def invoice_url(order) -> str:
    return reverse("shop:order-invoice", kwargs={"number": order.number})


def test_owner_sees_the_invoice(client, shopper, order):
    client.force_login(shopper)

    response = client.get(invoice_url(order))

    assert response.status_code == 200
    html = response.content.decode()
    line = order.lines.get()
    for text in ("Invoice", "Aisle", order.number, order.shipping_name, order.shipping_line1, order.shipping_postcode,
                 order.email, line.product_title, line.sku, "@media print"):
        assert text in html, text
    assert "Paid on" in html  # the checkout's card payment went through
    assert "1,000" in html and "500" in html  # two units at 500.00: unit price and total


def test_order_page_links_to_its_invoice(client, shopper, order):
    client.force_login(shopper)

    response = client.get(order.get_absolute_url())

    assert invoice_url(order) in response.content.decode()


def test_another_shopper_gets_a_404(client, other_shopper, order):
    client.force_login(other_shopper)

    assert client.get(invoice_url(order)).status_code == 404


def test_unknown_order_is_a_404(client, shopper):
    client.force_login(shopper)

    assert client.get(reverse("shop:order-invoice", kwargs={"number": "AI-ZZZZZZZZZZ"})).status_code == 404


def test_visitor_is_sent_to_sign_in(client, order):
    response = client.get(invoice_url(order))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("shop:login")) and "next=" in response["Location"]


def test_staff_may_view_any_invoice(client, make_user, order):
    staff = make_user("clerk", is_staff=True)
    client.force_login(staff)

    response = client.get(invoice_url(order))

    assert response.status_code == 200 and order.number in response.content.decode()


def test_product_names_are_escaped(client, shopper, order):
    OrderLine.objects.filter(order=order).update(product_title='<script>alert("x")</script> Tee & Co')
    client.force_login(shopper)

    html = client.get(invoice_url(order)).content.decode()

    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; Tee &amp; Co" in html
