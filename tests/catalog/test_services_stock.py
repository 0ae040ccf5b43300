"""catalog.services stock helpers: stock_reserve, stock_release, lock_variants."""
import threading

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from catalog.models import Category, Product, Variant
from catalog.services import lock_variants, stock_release, stock_reserve
from shop.errors import ApplicationError


def _stock(sku: str) -> int:
    return Variant.objects.get(sku=sku).stock


def test_stock_reserve_decrements_stock_and_returns_locked_variants_with_product(shop_catalog):
    red_s = Variant.objects.get(sku="RED-WRAP-DRESS-S")
    oxford_l = Variant.objects.get(sku="OXFORD-SHIRT-L")

    with transaction.atomic():
        variants = stock_reserve(quantities={red_s.pk: 2, oxford_l.pk: 5})

    assert sorted(variants) == sorted([red_s.pk, oxford_l.pk])
    assert variants[red_s.pk].stock == 3
    assert variants[oxford_l.pk].product.slug == "oxford-shirt"
    assert _stock("RED-WRAP-DRESS-S") == 3
    assert _stock("OXFORD-SHIRT-L") == 15


def test_stock_reserve_can_take_the_last_unit(shop_catalog):
    linen_xl = Variant.objects.get(sku="LINEN-SHIRT-XL")

    with transaction.atomic():
        stock_reserve(quantities={linen_xl.pk: 1})

    assert _stock("LINEN-SHIRT-XL") == 0


def test_stock_reserve_with_too_few_units_raises_insufficient_stock_and_changes_nothing(shop_catalog):
    red_s = Variant.objects.get(sku="RED-WRAP-DRESS-S")
    red_l = Variant.objects.get(sku="RED-WRAP-DRESS-L")

    with pytest.raises(ApplicationError) as caught, transaction.atomic():
        stock_reserve(quantities={red_s.pk: 1, red_l.pk: 3})

    assert caught.value.code == "insufficient_stock"
    assert caught.value.status_code == 409
    assert caught.value.fields == {str(red_l.pk): "only 2 left"}
    assert _stock("RED-WRAP-DRESS-S") == 5
    assert _stock("RED-WRAP-DRESS-L") == 2


def test_stock_reserve_of_an_inactive_variant_raises_variant_unavailable(shop_catalog):
    red_s = Variant.objects.get(sku="RED-WRAP-DRESS-S")
    Variant.objects.filter(pk=red_s.pk).update(is_active=False)

    with pytest.raises(ApplicationError) as caught, transaction.atomic():
        stock_reserve(quantities={red_s.pk: 1})

    assert (caught.value.code, caught.value.status_code) == ("variant_unavailable", 409)
    assert caught.value.fields == {str(red_s.pk): "no longer available"}


def test_stock_reserve_of_a_variant_of_an_inactive_product_raises_variant_unavailable(shop_catalog):
    product = shop_catalog["products"]["blue-maxi-dress"]
    product.is_active = False
    product.save()
    variant = product.variants.get()

    with pytest.raises(ApplicationError) as caught, transaction.atomic():
        stock_reserve(quantities={variant.pk: 1})

    assert caught.value.code == "variant_unavailable"


def test_stock_reserve_of_a_missing_variant_raises_variant_unavailable(shop_catalog):
    with pytest.raises(ApplicationError) as caught, transaction.atomic():
        stock_reserve(quantities={999_999: 1})

    assert caught.value.code == "variant_unavailable"
    assert caught.value.fields == {"999999": "no longer available"}


@pytest.mark.parametrize("quantity", [0, -1, True, 1.5])
def test_stock_reserve_rejects_a_quantity_that_is_not_a_positive_int(shop_catalog, quantity):
    red_s = Variant.objects.get(sku="RED-WRAP-DRESS-S")

    with pytest.raises(ApplicationError) as caught, transaction.atomic():
        stock_reserve(quantities={red_s.pk: quantity})

    assert (caught.value.code, caught.value.status_code) == ("invalid_quantity", 400)
    assert _stock("RED-WRAP-DRESS-S") == 5


def test_stock_reserve_outside_a_transaction_is_refused(transactional_db):
    # transactional_db: the test itself is not wrapped in a transaction, like a view in autocommit mode.
    with pytest.raises(AssertionError, match="inside transaction.atomic"):
        stock_reserve(quantities={1: 1})


def test_stock_reserve_rolls_back_with_the_callers_transaction(shop_catalog):
    red_s = Variant.objects.get(sku="RED-WRAP-DRESS-S")

    with pytest.raises(RuntimeError), transaction.atomic():
        stock_reserve(quantities={red_s.pk: 2})
        raise RuntimeError("payment failed")

    assert _stock("RED-WRAP-DRESS-S") == 5


def test_stock_release_puts_units_back_even_on_inactive_variants(shop_catalog):
    red_m = Variant.objects.get(sku="RED-WRAP-DRESS-M")
    oxford_m = Variant.objects.get(sku="OXFORD-SHIRT-M")
    Variant.objects.filter(pk=oxford_m.pk).update(is_active=False)

    with transaction.atomic():
        stock_release(quantities={red_m.pk: 2, oxford_m.pk: 1, 999_999: 4})

    assert _stock("RED-WRAP-DRESS-M") == 2
    assert _stock("OXFORD-SHIRT-M") == 5


def test_lock_variants_selects_rows_in_primary_key_order_in_one_query(shop_catalog):
    ids = list(Variant.objects.order_by("pk").values_list("pk", flat=True))

    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        locked = lock_variants(ids=reversed(ids))

    assert list(locked) == ids
    assert len(queries) == 1
    assert 'ORDER BY "catalog_variant"."id" ASC' in queries[0]["sql"]


def test_stock_reserve_takes_locks_for_update_on_postgres(require_postgres, shop_catalog):
    red_s = Variant.objects.get(sku="RED-WRAP-DRESS-S")

    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        stock_reserve(quantities={red_s.pk: 1})

    lock_sql = queries[0]["sql"]
    assert 'FOR UPDATE OF "catalog_variant"' in lock_sql
    assert 'ORDER BY "catalog_variant"."id" ASC' in lock_sql


@pytest.mark.postgres
def test_stock_reserve_race_of_ten_threads_for_five_units_sells_exactly_five(require_postgres, transactional_db):
    category = Category.objects.create(name="Shoes", slug="shoes")
    product = Product.objects.create(title="Runner", slug="runner", brand="Acme", category=category, price=10)
    first = Variant.objects.create(product=product, sku="R-8", price=10, stock=50)
    last = Variant.objects.create(product=product, sku="R-9", price=10, stock=5)
    outcomes: list[str] = []
    barrier = threading.Barrier(10)

    def buy() -> None:
        barrier.wait()
        try:
            # Each buyer also takes a unit of the other variant, listed in reverse: the helper's primary-key
            # order is what keeps two such buyers from deadlocking.
            with transaction.atomic():
                stock_reserve(quantities={last.pk: 1, first.pk: 1})
            outcomes.append("sold")
        except ApplicationError as error:
            outcomes.append(error.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=buy) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(outcomes) == ["insufficient_stock"] * 5 + ["sold"] * 5
    assert (_stock("R-9"), _stock("R-8")) == (0, 45)
