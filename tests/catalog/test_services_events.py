"""catalog.services.event_record, event_record_deferred with events_flush, and product_counters_refresh."""
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from catalog.models import Product, ShopperEvent
from catalog.services import event_record, event_record_deferred, events_flush, product_counters_refresh


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


def test_event_record_inside_a_transaction_takes_no_savepoint(shop_catalog):
    product = shop_catalog["products"]["white-top"]

    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        event_record(kind=ShopperEvent.Kind.ADD_TO_CART, product=product)

    assert [q["sql"].split()[0] for q in queries] == ["INSERT"]


# Events are only queued outside a transaction, as a page sees it in production (no ATOMIC_REQUESTS): these
# tests use transactional_db, which runs them in autocommit like a server, not inside a test transaction.


def test_deferred_events_are_written_by_the_flush_in_one_insert_and_an_update_per_distinct_increment(
    transactional_db, shop_catalog, settings
):
    settings.CATALOG_EVENT_MAX_DELAY_SECONDS = 3600
    top, shirt = shop_catalog["products"]["white-top"], shop_catalog["products"]["oxford-shirt"]
    for product in (top, top, shirt):
        event_record_deferred(kind=ShopperEvent.Kind.VIEW, session_key="abc", product_id=product.pk)
    event_record_deferred(kind=ShopperEvent.Kind.SEARCH, query="  linen ")
    assert ShopperEvent.objects.count() == 0

    with CaptureQueriesContext(connection) as queries:
        written = events_flush()

    writes = [q["sql"].split()[0] for q in queries if q["sql"].startswith(("INSERT", "UPDATE"))]
    # The top was viewed twice and the shirt once: one UPDATE adds 1, another adds 2.
    assert (written, writes) == (4, ["INSERT", "UPDATE", "UPDATE"])
    assert Product.objects.get(pk=top.pk).view_count == 2
    assert Product.objects.get(pk=shirt.pk).view_count == 6
    assert sorted(ShopperEvent.objects.values_list("kind", "query")) == [
        ("search", "linen"), ("view", ""), ("view", ""), ("view", "")
    ]
    assert events_flush() == 0


def test_deferred_events_wait_for_a_full_batch_at_the_end_of_a_response(
    transactional_db, client, shop_catalog, settings
):
    settings.CATALOG_EVENT_MAX_DELAY_SECONDS = 3600
    settings.CATALOG_EVENT_BATCH_SIZE = 3

    client.get("/p/oxford-shirt/")
    client.get("/p/white-top/")
    assert ShopperEvent.objects.count() == 0

    client.get("/p/white-top/")

    assert ShopperEvent.objects.count() == 3
    assert Product.objects.get(slug="white-top").view_count == 2


def test_deferred_events_older_than_the_delay_are_written_at_the_end_of_the_next_response(
    transactional_db, client, shop_catalog, settings
):
    settings.CATALOG_EVENT_MAX_DELAY_SECONDS = 3600
    client.get("/p/oxford-shirt/")
    assert ShopperEvent.objects.count() == 0

    settings.CATALOG_EVENT_MAX_DELAY_SECONDS = 0
    client.get("/healthz")

    assert ShopperEvent.objects.get().product.slug == "oxford-shirt"


def test_deferred_events_recorded_against_another_database_are_dropped(transactional_db, shop_catalog, monkeypatch):
    # At the end of a test run the connection points at the real database again: a test's events stay out.
    monkeypatch.setitem(connection.settings_dict, "NAME", "another-database")
    event_record_deferred(kind=ShopperEvent.Kind.SEARCH, query="linen")
    monkeypatch.undo()

    assert events_flush() == 0
    assert ShopperEvent.objects.count() == 0


def test_an_event_deferred_inside_a_transaction_is_written_at_once_in_it(shop_catalog):
    product = shop_catalog["products"]["white-top"]

    with transaction.atomic():
        event_record_deferred(kind=ShopperEvent.Kind.VIEW, product_id=product.pk)
        assert ShopperEvent.objects.get().product == product

    assert events_flush() == 0
    assert Product.objects.get(pk=product.pk).view_count == 1


def test_event_record_deferred_rejects_an_unknown_kind(db):
    with pytest.raises(ValueError, match="unknown event kind"):
        event_record_deferred(kind="like")
