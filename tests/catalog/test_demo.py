"""catalog.demo: the generated demo catalog."""
import io
from collections import Counter

from catalog import demo
from catalog.models import Category, Product, Variant


def test_demo_records_are_the_same_on_every_call():
    first, second = demo.records(), demo.records()

    assert first == second
    assert len({r.external_id for r in first}) == len(first)


def test_demo_seed_makes_a_varied_catalog_of_at_least_1000_products_in_15_categories(db):
    out = io.StringIO()

    demo.seed(stdout=out)

    assert Product.objects.count() >= 1000
    leaves = Category.objects.filter(parent__isnull=False)
    assert leaves.count() >= 15
    assert not Category.objects.filter(parent__isnull=False, products__isnull=True).exists()
    assert Product.objects.values("brand").distinct().count() >= 10
    variants_per_product = Counter(Variant.objects.values_list("product_id", flat=True))
    assert min(variants_per_product.values()) >= 1 and max(variants_per_product.values()) <= 6
    assert Variant.objects.filter(stock=0).exists()
    assert Variant.objects.filter(stock__range=(1, 4)).exists()
    assert Product.objects.exclude(attributes__has_key="material").count() == 0
    assert out.getvalue().startswith(f"Demo catalog: {Product.objects.count()} products created")


def test_demo_seed_run_twice_duplicates_nothing_and_keeps_used_stock(db):
    demo.seed()
    sold = Variant.objects.filter(stock__gt=5).first()
    Variant.objects.filter(pk=sold.pk).update(stock=1)
    counts = (Product.objects.count(), Variant.objects.count(), Category.objects.count())
    out = io.StringIO()

    demo.seed(stdout=out)

    assert (Product.objects.count(), Variant.objects.count(), Category.objects.count()) == counts
    assert Variant.objects.get(pk=sold.pk).stock == 1
    assert "0 products created, 0 updated" in out.getvalue()
