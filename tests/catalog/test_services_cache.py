"""Cached storefront pages end when catalog.services writes: product upserts, new categories, stock changes."""
from decimal import Decimal

from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from catalog.models import Variant
from catalog.selectors import category_tree
from catalog.services import (
    ProductRecord, VariantRecord, catalog_cache_invalidate, categories_ensure, products_upsert, stock_release,
    stock_reserve,
)


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def _record(**changes) -> ProductRecord:
    fields = dict(
        external_id="ext-1", title="Silk Slip Dress", brand="Petal", category_path=("Women", "Dresses"),
        price=Decimal("3100"), variants=[VariantRecord(sku="SILK-M", price=Decimal("3100"), size="M", stock=4)],
        audience="women", colour="Black",
    )
    return ProductRecord(**{**fields, **changes})


def test_a_page_served_again_comes_from_the_cache(client, shop_catalog):
    client.get("/c/women/")

    assert _queries(client, "/c/women/") == 0


def test_an_upserted_product_shows_on_a_cached_category_page(client, shop_catalog):
    client.get("/c/women-dresses/")

    products_upsert(records=[_record()])

    assert "Silk Slip Dress" in client.get("/c/women-dresses/").content.decode()


def test_an_upsert_that_changes_nothing_keeps_the_cache(client, shop_catalog):
    products_upsert(records=[_record()])
    client.get("/c/women-dresses/")

    products_upsert(records=[_record()])

    assert _queries(client, "/c/women-dresses/") == 0


def test_a_new_category_ends_the_cached_tree(shop_catalog):
    category_tree()

    categories_ensure(paths=[("Women", "Skirts")])

    assert "women-skirts" in category_tree().by_slug


def test_selling_the_last_unit_marks_the_cached_card_out_of_stock(client, shop_catalog):
    linen_xl = Variant.objects.get(sku="LINEN-SHIRT-XL")
    assert "Out of stock" not in client.get("/c/men/").content.decode()

    with transaction.atomic():
        stock_reserve(quantities={linen_xl.pk: 1})

    assert '<span class="badge badge-neutral">Out of stock</span>' in client.get("/c/men/").content.decode()


def test_stock_that_stays_above_zero_changes_the_product_page_but_keeps_listings(client, shop_catalog):
    oxford_m = Variant.objects.get(sku="OXFORD-SHIRT-M")
    client.get("/c/men/")
    assert "Only 4 left" in client.get("/p/oxford-shirt/").content.decode()

    with transaction.atomic():
        stock_reserve(quantities={oxford_m.pk: 1})

    assert "Only 3 left" in client.get("/p/oxford-shirt/").content.decode()
    assert _queries(client, "/c/men/") == 0


def test_released_stock_brings_a_sold_out_card_back(client, shop_catalog):
    green_s = Variant.objects.get(sku="GREEN-SHIRT-DRESS-S")
    assert "Out of stock" in client.get("/c/women-dresses/").content.decode()

    with transaction.atomic():
        stock_release(quantities={green_s.pk: 2})

    assert "Out of stock" not in client.get("/c/women-dresses/").content.decode()


def test_a_page_cached_before_the_write_commits_is_dropped_at_commit(
    client, shop_catalog, django_capture_on_commit_callbacks
):
    # Another request may cache the rows as they were between the write and its commit; the commit ends that.
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            catalog_cache_invalidate()
            client.get("/c/men/")

    assert _queries(client, "/c/men/") > 0
