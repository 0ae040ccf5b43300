"""Storefront pages: home, category listing, product (the search page is tested in tests/search)."""
import re

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext, override_settings

from catalog.models import Product, ShopperEvent, Variant


def _card_titles(html: str) -> list[str]:
    return re.findall(r'<h3><a href="/p/[^"]+/">([^<]+)</a></h3>', html)


def test_home_shows_categories_popular_products_and_the_recommendation_slot(client, shop_catalog):
    response = client.get("/")

    assert response.status_code == 200
    html = response.content.decode()
    assert _card_titles(html)[:2] == ["Blue Oxford Shirt", "Red Wrap Dress"]
    assert 'href="/c/women/"' in html
    assert '<section class="reco-slot" data-slot="home"' in html


def test_home_with_no_products_shows_the_empty_state(client, db):
    response = client.get("/")

    assert response.status_code == 200
    assert "The shelves are empty" in response.content.decode()


def test_category_page_lists_descendant_products_with_facets_and_breadcrumbs(client, shop_catalog):
    response = client.get("/c/women/")

    html = response.content.decode()
    assert response.status_code == 200
    assert _card_titles(html) == ["Red Wrap Dress", "Green Shirt Dress", "Blue Maxi Dress", "White Linen Top"]
    assert '<input type="checkbox" name="brand" value="Petal">' in html
    assert '<h1 class="page-title">Women</h1>' in html
    assert 'aria-current="page">Women</span>' in html
    assert "4 products" in html


def test_category_page_applies_facets_and_sort_from_the_query_string(client, shop_catalog):
    response = client.get("/c/women/?brand=Lumen&sort=price_desc")

    html = response.content.decode()
    assert _card_titles(html) == ["Green Shirt Dress", "White Linen Top"]
    assert '<input type="checkbox" name="brand" value="Lumen" checked>' in html
    assert '<option value="price_desc" selected>' in html
    # The sort form carries the other filters along.
    assert '<input type="hidden" name="brand" value="Lumen">' in html


@pytest.mark.parametrize(
    "query", ["page=abc", "page=-3", "page=99999999999", "min_price=foo", "max_price=1e999", "sort=<script>",
              "size=" + "x" * 500, "audience=robots"],
)
def test_category_page_ignores_bad_parameters(client, shop_catalog, query):
    response = client.get(f"/c/women/?{query}")

    assert response.status_code == 200
    assert len(_card_titles(response.content.decode())) == 4


def test_category_page_with_an_inverted_price_range_keeps_only_the_minimum(client, shop_catalog):
    response = client.get("/c/women/?min_price=900&max_price=100")

    assert _card_titles(response.content.decode()) == ["Red Wrap Dress", "Green Shirt Dress", "Blue Maxi Dress"]


def test_category_page_with_no_matching_products_shows_the_empty_state(client, shop_catalog):
    response = client.get("/c/women/?min_price=100000")

    html = response.content.decode()
    assert "No products match these filters" in html
    assert _card_titles(html) == []


def test_unknown_category_is_404(client, shop_catalog):
    assert client.get("/c/nope/").status_code == 404


@override_settings(CATALOG_PAGE_SIZE=2)
def test_category_page_paginates(client, shop_catalog):
    response = client.get("/c/women/?page=2")

    html = response.content.decode()
    assert _card_titles(html) == ["Blue Maxi Dress", "White Linen Top"]
    assert '<span aria-current="page">2</span>' in html
    assert 'href="?page=1" rel="prev"' in html


def test_product_page_renders_variants_stock_and_add_to_cart_form(client, shop_catalog):
    response = client.get("/p/red-wrap-dress/")

    html = response.content.decode()
    assert response.status_code == 200
    assert "<h1>Red Wrap Dress</h1>" in html
    assert '<p class="price">₹1,500</p>' in html
    assert 'action="/cart/add/"' in html
    assert re.search(r'value="RED-WRAP-DRESS-S" required\s+aria-describedby="variant-\d+-stock"\s+checked>', html)
    assert re.search(r'value="RED-WRAP-DRESS-M" required\s+aria-describedby="variant-\d+-stock"\s+disabled>', html)
    assert '<p class="stock low-stock" id="stock-state">In stock</p>' not in html
    assert "Only 2 left in L" in html
    assert 'name="quantity"' in html
    assert '<section class="reco-slot" data-slot="product" data-product="red-wrap-dress"' in html


@pytest.mark.parametrize(
    "slug, state",
    [
        ("blue-maxi-dress", '<p class="stock in-stock" id="stock-state">In stock</p>'),
        ("oxford-shirt", '<p class="stock in-stock" id="stock-state">In stock</p>'),
        ("white-top", '<p class="stock low-stock" id="stock-state">Only 3 left</p>'),
        ("green-shirt-dress", '<p class="stock out-of-stock" id="stock-state">Out of stock</p>'),
    ],
)
def test_product_page_states_stock(client, shop_catalog, slug, state):
    html = client.get(f"/p/{slug}/").content.decode()

    assert state in html


def test_product_page_of_a_sold_out_product_disables_add_to_cart(client, shop_catalog):
    html = client.get("/p/green-shirt-dress/").content.decode()

    assert re.search(r'<button class="btn btn-primary" type="submit" disabled[^>]*>Add to cart</button>', html)


def test_product_page_uses_seo_title_and_description_when_set(client, shop_catalog):
    Product.objects.filter(slug="white-top").update(seo_title="Linen Top | Aisle", seo_description="Breezy linen.")

    html = client.get("/p/white-top/").content.decode()

    assert "<title>Linen Top | Aisle</title>" in html
    assert '<meta name="description" content="Breezy linen.">' in html


def test_product_page_falls_back_to_title_and_description(client, shop_catalog):
    html = client.get("/p/white-top/").content.decode()

    assert "<title>White Linen Top · Aisle</title>" in html
    assert '<meta name="description" content="A relaxed top.">' in html


def test_product_page_escapes_product_text(client, make_product):
    make_product(slug="evil", title="<script>alert(1)</script>", brand="<b>Brand</b>",
                 description="<img src=x onerror=alert(2)>", seo_description="<script>x</script>")

    html = client.get("/p/evil/").content.decode()

    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html
    assert "<b>Brand</b>" not in html
    assert '<meta name="description" content="&lt;script&gt;x&lt;/script&gt;">' in html


def test_product_page_records_a_view_event(client, shop_catalog):
    client.get("/p/oxford-shirt/")

    event = ShopperEvent.objects.get()
    assert (event.kind, event.product.slug) == ("view", "oxford-shirt")
    assert Product.objects.get(slug="oxford-shirt").view_count == 6


def test_unknown_or_inactive_product_is_404(client, shop_catalog):
    Product.objects.filter(slug="white-top").update(is_active=False)

    assert client.get("/p/white-top/").status_code == 404
    assert client.get("/p/nope/").status_code == 404
    assert ShopperEvent.objects.count() == 0


def test_listing_page_num_queries_is_the_same_for_any_page_size(client, make_product, make_category):
    for n in range(30):
        make_product(variants=[{"size": "M"}, {"size": "L", "stock": 0}], brand=f"Brand {n % 7}")

    def count(page_size: int) -> int:
        cache.clear()  # a cold cache each time: count every query a miss costs
        with override_settings(CATALOG_PAGE_SIZE=page_size), CaptureQueriesContext(connection) as queries:
            response = client.get("/c/misc/")
        assert len(_card_titles(response.content.decode())) == page_size
        return len(queries)

    assert count(5) == count(25)


def test_product_page_num_queries_is_the_same_for_any_number_of_variants(client, make_product):
    sizes = ["XS", "S", "M", "L", "XL", "XXL"]
    make_product(slug="one", variants=[{"size": "M"}])
    make_product(slug="six", variants=[{"size": size, "stock": 2} for size in sizes])

    def count(slug: str) -> int:
        cache.clear()  # a cold cache each time: count every query a miss costs
        with CaptureQueriesContext(connection) as queries:
            assert client.get(f"/p/{slug}/").status_code == 200
        return len(queries)

    assert count("one") == count("six")
    assert Variant.objects.count() == 7


@pytest.mark.parametrize("url", ["/", "/c/women/?brand=Petal&sort=newest", "/p/oxford-shirt/"])
def test_pages_served_again_num_queries_reads_nothing(client, shop_catalog, url):
    first = client.get(url)

    with CaptureQueriesContext(connection) as queries:
        again = client.get(url)

    # Only the page's shopper event is written, at once here: a test runs inside a transaction. A guest's
    # recommendation blocks are cached too.
    assert [q["sql"] for q in queries if not q["sql"].startswith(("INSERT", "UPDATE"))] == []
    assert again.content.decode().count("<h3>") == first.content.decode().count("<h3>")


def test_a_cached_product_page_carries_each_shoppers_own_csrf_token(shop_catalog):
    Client(enforce_csrf_checks=True).get("/p/oxford-shirt/")  # fills the cache
    shopper = Client(enforce_csrf_checks=True)

    html = shopper.get("/p/oxford-shirt/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    response = shopper.post("/cart/add/", {"sku": "OXFORD-SHIRT-L", "quantity": 1, "csrfmiddlewaretoken": token})

    assert html.count('name="csrfmiddlewaretoken"') == 1
    assert response.status_code == 302


def test_guests_share_a_cached_page_but_never_each_others_token_or_a_shoppers_header(shop_catalog, django_user_model):
    first, second = Client(), Client()
    first_html = first.get("/c/women/").content.decode()  # fills the guest page cache

    with CaptureQueriesContext(connection) as queries:
        second_html = second.get("/c/women/").content.decode()

    assert queries.captured_queries == []
    tokens = [re.search(r'data-csrf="([^"]+)"', html).group(1) for html in (first_html, second_html)]
    assert tokens[0] != tokens[1] and "slot" not in tokens[1]

    shopper = Client()
    shopper.force_login(django_user_model.objects.create_user(username="mira", password="pw-123456"))
    assert "Sign out" in shopper.get("/c/women/").content.decode()

    shopper_with_cart = Client()
    shopper_with_cart.get("/p/oxford-shirt/")
    shopper_with_cart.post("/cart/add/", {"sku": "OXFORD-SHIRT-L", "quantity": 1})
    assert re.search(r"data-cart-count>1<", shopper_with_cart.get("/c/women/").content.decode())


def test_a_guests_query_string_never_shows_on_another_guests_cached_page(shop_catalog):
    assert "spam-words" in Client().get("/", {"q": "spam-words"}).content.decode()  # the search box echoes q

    assert "spam-words" not in Client().get("/").content.decode()
