"""catalog.services.event_record and product_counters_refresh."""
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog.models import Product, ShopperEvent
from catalog.services import event_record, product_counters_refresh


def test_event_record_view_stores_the_event_and_bumps_view_count_in_two_queries(shop_catalog):
    product = shop_catalog["products"]["white-top"]

    with CaptureQueriesContext(connection) as queries:
        event = event_record(kind=ShopperEvent.Kind.VIEW, user=AnonymousUser(), session_key="abc", product=product)

    writes = [q["sql"] for q in queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    assert [sql.split()[0] for sql in writes] == ["INSERT", "UPDATE"]
    event.refresh_from_db()
    assert (event.kind, event.user_id, event.session_key, event.product_id) == ("view", None, "abc", product.pk)
    assert Product.objects.get(pk=product.pk).view_count == 1


def test_event_record_purchase_bumps_sales_count_for_a_signed_in_user(shop_catalog):
    user = get_user_model().objects.create_user(username="asha", password="x")
    product = shop_catalog["products"]["oxford-shirt"]

    event_record(kind=ShopperEvent.Kind.PURCHASE, user=user, product=product)

    assert Product.objects.get(pk=product.pk).sales_count == 21
    assert ShopperEvent.objects.get().user == user


def test_event_record_search_stores_the_stripped_query_with_one_insert(db):
    with CaptureQueriesContext(connection) as queries:
        event_record(kind=ShopperEvent.Kind.SEARCH, session_key=None, query="  red kurta  ")

    assert [q["sql"].split()[0] for q in queries if q["sql"].startswith(("INSERT", "UPDATE"))] == ["INSERT"]
    event = ShopperEvent.objects.get()
    assert (event.query, event.session_key, event.product_id) == ("red kurta", "", None)


def test_event_record_add_to_cart_changes_no_counter(shop_catalog):
    product = shop_catalog["products"]["white-top"]

    event_record(kind=ShopperEvent.Kind.ADD_TO_CART, product=product)

    assert Product.objects.filter(pk=product.pk).values_list("view_count", "sales_count").get() == (0, 0)


def test_event_record_rejects_an_unknown_kind(db):
    with pytest.raises(ValueError, match="unknown event kind"):
        event_record(kind="like")


def test_product_counters_refresh_recomputes_counts_from_events(shop_catalog):
    top = shop_catalog["products"]["white-top"]
    shirt = shop_catalog["products"]["oxford-shirt"]
    ShopperEvent.objects.bulk_create(
        [ShopperEvent(kind="view", product=top, created_at="2025-01-01T00:00Z") for _ in range(3)]
        + [ShopperEvent(kind="purchase", product=top, created_at="2025-01-01T00:00Z")]
    )

    updated = product_counters_refresh()

    assert updated == 6
    assert Product.objects.filter(pk=top.pk).values_list("view_count", "sales_count").get() == (3, 1)
    assert Product.objects.filter(pk=shirt.pk).values_list("view_count", "sales_count").get() == (0, 0)
