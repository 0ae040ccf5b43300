"""catalog.services.products_upsert and categories_ensure."""
from dataclasses import replace
from decimal import Decimal

from catalog.models import Category, Product, Variant
from catalog.services import ProductRecord, VariantRecord, categories_ensure, products_upsert


def _record(external_id: str = "ext-1", **changes) -> ProductRecord:
    record = ProductRecord(
        external_id=external_id,
        title="Trail Runner Shoe",
        brand="Stridewell",
        category_path=("Men", "Sneakers"),
        price=Decimal("2499"),
        variants=[
            VariantRecord(sku=f"{external_id}-8", price=Decimal("2499"), size="UK8", initial_stock=4),
            VariantRecord(sku=f"{external_id}-9", price=Decimal("2499"), size="UK9", initial_stock=0),
        ],
        audience="men",
        colour="Blue",
        attributes={"type": "Sneakers"},
        line=2,
    )
    return replace(record, **changes)


def test_categories_ensure_creates_the_path_once_and_positions_in_first_seen_order(db):
    first = categories_ensure(paths=[("Women", "Dresses"), ("Men", "Shirts"), ("Women", "Tops")])
    again = categories_ensure(paths=[("Women", "Dresses")])

    assert first[("Women", "Dresses")].parent == first[("Women",)]
    assert again[("Women", "Dresses")].pk == first[("Women", "Dresses")].pk
    assert list(Category.objects.filter(parent=None).values_list("slug", flat=True)) == ["women", "men"]
    assert Category.objects.count() == 5


def test_products_upsert_creates_product_variants_and_slug(db):
    result = products_upsert(records=[_record()])

    assert (result.created, result.updated, result.unchanged, result.variants_created) == (1, 0, 0, 2)
    product = Product.objects.get(external_id="ext-1")
    assert product.category.slug == "men-sneakers"
    assert product.slug.startswith("trail-runner-shoe-")
    assert dict(product.variants.values_list("sku", "stock")) == {"ext-1-8": 4, "ext-1-9": 0}


def test_products_upsert_of_the_same_record_changes_nothing(db):
    products_upsert(records=[_record()])
    before = Product.objects.values_list("updated_at", flat=True).get()

    result = products_upsert(records=[_record()])

    assert (result.created, result.updated, result.unchanged) == (0, 0, 1)
    assert (result.variants_created, result.variants_updated) == (0, 0)
    assert Product.objects.values_list("updated_at", flat=True).get() == before


def test_products_upsert_updates_changed_fields_but_keeps_stock_the_source_does_not_state(db):
    products_upsert(records=[_record()])
    Variant.objects.filter(sku="ext-1-8").update(stock=1)  # sold three since the import
    changed = _record(title="Trail Runner Shoe 2", variants=[
        VariantRecord(sku="ext-1-8", price=Decimal("1999"), size="UK8", initial_stock=4),
        VariantRecord(sku="ext-1-9", price=Decimal("2499"), size="UK9", stock=7),
    ])

    result = products_upsert(records=[changed])

    assert (result.created, result.updated, result.variants_updated) == (0, 1, 2)
    assert Product.objects.get().title == "Trail Runner Shoe 2"
    assert set(Variant.objects.values_list("sku", "price", "stock")) == {
        ("ext-1-8", Decimal("1999.00"), 1),
        ("ext-1-9", Decimal("2499.00"), 7),
    }


def test_products_upsert_leaves_seo_copy_alone_when_the_source_has_none(db):
    products_upsert(records=[_record()])
    Product.objects.update(seo_title="Approved title")

    result = products_upsert(records=[_record(seo_title=None)])

    assert result.unchanged == 1
    assert Product.objects.get().seo_title == "Approved title"


def test_products_upsert_reports_bad_records_and_writes_the_rest(db):
    products_upsert(records=[_record("owner")])
    thief = _record("thief", variants=[VariantRecord(sku="owner-8", price=Decimal("1"))], line=7)
    negative = _record("negative", price=Decimal("-1"), line=8)
    no_variants = _record("empty", variants=[], line=9)
    good = _record("good", line=10)

    result = products_upsert(records=[thief, negative, no_variants, good])

    assert result.created == 1
    assert [(e.line, e.key, e.reason) for e in result.errors] == [
        (8, "negative", "price -1 is out of range"),
        (9, "empty", "no variants"),
        (7, "thief", "SKU owner-8 belongs to another product (owner)"),
    ]
    assert set(Product.objects.values_list("external_id", flat=True)) == {"owner", "good"}


def test_products_upsert_makes_slugs_unique_for_equal_titles(db):
    result = products_upsert(records=[_record("a"), _record("b")])

    assert result.created == 2
    slugs = list(Product.objects.values_list("slug", flat=True))
    assert len(set(slugs)) == 2
