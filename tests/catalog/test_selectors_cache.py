"""catalog.selectors.catalog_cached: values stamped with version tokens, and the reads it caches."""
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog.models import Category
from catalog.selectors import (
    CATALOG_VERSION_KEY, cache_key_part, catalog_cached, category_by_slug, category_tree, product_detail,
    product_version_key,
)


def _counting(value):
    calls = []

    def compute():
        calls.append(value)
        return value

    return calls, compute


def test_catalog_cached_computes_once_while_the_versions_stand(db):
    calls, compute = _counting("fresh")

    first = catalog_cached(key="thing", compute=compute, versions=["catalog:version:extra"])
    second = catalog_cached(key="thing", compute=compute, versions=["catalog:version:extra"])

    assert (first, second, calls) == ("fresh", "fresh", ["fresh"])


def test_catalog_cached_computes_again_when_a_version_token_is_replaced_or_lost(db):
    calls, compute = _counting("fresh")
    catalog_cached(key="thing", compute=compute, versions=["catalog:version:extra"])

    cache.set("catalog:version:extra", "another token")
    catalog_cached(key="thing", compute=compute, versions=["catalog:version:extra"])
    cache.delete(CATALOG_VERSION_KEY)
    catalog_cached(key="thing", compute=compute, versions=["catalog:version:extra"])

    assert calls == ["fresh", "fresh", "fresh"]


def test_catalog_cached_keeps_none_as_a_value(db):
    calls = []

    def compute():
        calls.append(None)

    assert catalog_cached(key="nothing", compute=compute) is None
    assert catalog_cached(key="nothing", compute=compute) is None
    assert len(calls) == 1


def test_category_tree_is_read_once_and_each_call_gets_its_own_copy(shop_catalog):
    first = category_tree()
    with CaptureQueriesContext(connection) as queries:
        second = category_tree()

    assert len(queries) == 0
    assert second is not first
    assert [node.category.slug for node in second.roots] == ["men", "women"]


def test_category_tree_counts_are_cached_apart_from_the_plain_tree(shop_catalog):
    category_tree()

    counted = category_tree(with_counts=True)

    assert counted.by_slug["women"].product_count == 4


def test_product_detail_is_cached_with_its_variants(shop_catalog):
    product_detail(slug="oxford-shirt")
    with CaptureQueriesContext(connection) as queries:
        detail = product_detail(slug="oxford-shirt")

    assert len(queries) == 0
    assert [v.sku for v in detail.variants] == ["OXFORD-SHIRT-M", "OXFORD-SHIRT-L"]
    assert [v.sku for v in detail.product.active_variants] == ["OXFORD-SHIRT-M", "OXFORD-SHIRT-L"]
    assert [c.slug for c in detail.breadcrumbs] == ["men", "men-shirts"]


def test_product_detail_of_an_unknown_slug_is_none_and_cached_as_such(shop_catalog):
    assert product_detail(slug="nope") is None
    with CaptureQueriesContext(connection) as queries:
        assert product_detail(slug="nope") is None

    assert len(queries) == 0


def test_cache_keys_hash_long_or_odd_slugs():
    assert cache_key_part("oxford-shirt") == "oxford-shirt"
    assert len(cache_key_part("x" * 255)) == 40
    assert cache_key_part("a b") != "a b"
    assert product_version_key("oxford-shirt") == "catalog:version:product:oxford-shirt"


def test_category_by_slug_is_cached_and_knows_unknown_slugs(shop_catalog):
    category_by_slug(slug="women-tops")
    with CaptureQueriesContext(connection) as queries:
        found = category_by_slug(slug="women-tops")

    assert len(queries) == 0
    assert found == Category.objects.get(slug="women-tops")
    assert category_by_slug(slug="nope") is None
