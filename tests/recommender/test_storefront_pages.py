"""The blocks on the real pages: home, product and cart render them into their reco-slot regions, escaped."""
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from shop import services as shop_services
from shop.selectors import Owner


def _slot(html: str, slot: str) -> str:
    start = html.index(f'data-slot="{slot}"')
    return html[start : html.index("</section>", start)]


def test_the_product_page_shows_also_bought_and_similar_items(client, shoppers, store):
    response = client.get(store["pan"].get_absolute_url())

    slot = _slot(response.content.decode(), "product")
    assert "Customers also bought" in slot and "Similar items" in slot
    assert store["pot"].get_absolute_url() in slot and "Often bought with Pan" in slot
    assert store["pan"].get_absolute_url() not in slot  # never the page's own product


def test_the_home_page_recommends_from_a_signed_in_shoppers_history(client, shoppers, store):
    client.force_login(shoppers[0])  # a runner

    slot = _slot(client.get(reverse("catalog:home")).content.decode(), "home")

    assert "Recommended for you" in slot
    assert 'class="reco-reason"' in slot


def test_the_cart_page_completes_the_order(client, shoppers, store, make_user):
    user = make_user()
    cart = shop_services.cart_get_or_create(owner=Owner(user=user))
    shop_services.cart_add_item(cart=cart, sku=store["pan"].variants.first().sku, quantity=1)
    client.force_login(user)

    slot = _slot(client.get(reverse("shop:cart")).content.decode(), "cart")

    assert "Complete your order" in slot and "Often bought with Pan" in slot


def test_product_names_in_blocks_are_escaped(client, shoppers, store):
    store["pot"].title = "<script>alert(1)</script> Pot"
    store["pot"].save(update_fields=["title"])

    slot = _slot(client.get(store["pan"].get_absolute_url()).content.decode(), "product")

    assert "<script>alert(1)</script>" not in slot and "&lt;script&gt;" in slot


def test_a_guests_blocks_are_cached_but_never_served_to_a_shopper_with_a_history(client, shoppers, store):
    home = reverse("catalog:home")
    assert "Popular right now" in _slot(client.get(home).content.decode(), "home")
    with CaptureQueriesContext(connection) as queries:
        client.get(home)
    assert queries.captured_queries == []

    client.force_login(shoppers[0])
    slot = _slot(client.get(home).content.decode(), "home")
    assert "Because you viewed" in slot or "Because you bought" in slot
