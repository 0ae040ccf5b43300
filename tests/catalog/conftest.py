"""Catalog fixtures: factories for categories, products and variants, and a small known catalog."""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Callable

import pytest

from catalog.models import Audience, Category, Product, Variant
from catalog.services import events_discard


@pytest.fixture(autouse=True)
def _no_queued_events_between_tests():
    """Pages queue their shopper events when no transaction is open (catalog.services.event_record_deferred),
    as in the transactional tests of test_services_events.py: nothing one test queued may reach the next."""
    events_discard()
    yield
    events_discard()


@pytest.fixture
def make_category(db) -> Callable[..., Category]:
    def make(name: str, *, parent: Category | None = None, slug: str | None = None) -> Category:
        from django.utils.text import slugify

        return Category.objects.create(name=name, slug=slug or slugify(f"{parent.slug if parent else ''} {name}"),
                                       parent=parent)

    return make


@pytest.fixture
def make_product(db, make_category) -> Callable[..., Product]:
    """make_product(title=..., variants=[{"size": "M", "stock": 3}, ...], **product fields)."""
    counter = {"n": 0}

    def make(*, variants: list[dict[str, Any]] | None = None, **fields: Any) -> Product:
        counter["n"] += 1
        n = counter["n"]
        if "category" not in fields:
            fields["category"] = Category.objects.filter(slug="misc").first() or make_category("Misc", slug="misc")
        fields.setdefault("title", f"Product {n}")
        fields.setdefault("slug", f"product-{n}")
        fields.setdefault("brand", "Acme")
        fields.setdefault("price", Decimal("1000.00"))
        product = Product.objects.create(**fields)
        for index, spec in enumerate(variants if variants is not None else [{}], start=1):
            Variant.objects.create(
                product=product,
                sku=spec.get("sku", f"SKU-{n}-{index}"),
                size=spec.get("size", ""),
                colour=spec.get("colour", ""),
                price=spec.get("price", product.price),
                stock=spec.get("stock", 10),
                is_active=spec.get("is_active", True),
            )
        return product

    return make


@pytest.fixture
def shop_catalog(make_category, make_product) -> dict[str, Any]:
    """Women > Dresses (3 products), Women > Tops (1), Men > Shirts (2).

    | slug            | brand    | colour | audience | price | sizes (stock)        | sales/views |
    | red-wrap-dress  | Petal    | Red    | women    | 1500  | S(5) M(0) L(2)       | 9 / 50      |
    | blue-maxi-dress | Petal    | Blue   | women    | 2500  | M(10)                | 1 / 80      |
    | green-shirt-dr  | Lumen    | Green  | women    | 999   | S(0)                 | 5 / 10      |
    | white-top       | Lumen    | White  | women    | 700   | M(3)                 | 0 / 0       |
    | oxford-shirt    | Regal    | Blue   | men      | 1800  | M(4) L(20)           | 20 / 5      |
    | linen-shirt     | Northern | White  | men      | 1200  | XL(1)                | 0 / 1       |
    """
    women = make_category("Women", slug="women")
    dresses = make_category("Dresses", parent=women, slug="women-dresses")
    tops = make_category("Tops", parent=women, slug="women-tops")
    men = make_category("Men", slug="men")
    shirts = make_category("Shirts", parent=men, slug="men-shirts")
    rows = [
        ("red-wrap-dress", "Red Wrap Dress", "Petal", "Red", Audience.WOMEN, "1500", dresses,
         [("S", 5), ("M", 0), ("L", 2)], 9, 50, "A cotton wrap dress with a tie waist."),
        ("blue-maxi-dress", "Blue Maxi Dress", "Petal", "Blue", Audience.WOMEN, "2500", dresses,
         [("M", 10)], 1, 80, "A flowing georgette maxi dress."),
        ("green-shirt-dress", "Green Shirt Dress", "Lumen", "Green", Audience.WOMEN, "999", dresses,
         [("S", 0)], 5, 10, "A linen shirt dress."),
        ("white-top", "White Linen Top", "Lumen", "White", Audience.WOMEN, "700", tops,
         [("M", 3)], 0, 0, "A relaxed top."),
        ("oxford-shirt", "Blue Oxford Shirt", "Regal", "Blue", Audience.MEN, "1800", shirts,
         [("M", 4), ("L", 20)], 20, 5, "A crisp cotton oxford shirt."),
        ("linen-shirt", "White Linen Shirt", "Northern", "White", Audience.MEN, "1200", shirts,
         [("XL", 1)], 0, 1, "A breezy linen shirt."),
    ]
    products = {}
    for slug, title, brand, colour, audience, price, category, sizes, sales, views, description in rows:
        products[slug] = make_product(
            slug=slug, title=title, brand=brand, colour=colour, audience=audience, price=Decimal(price),
            category=category, sales_count=sales, view_count=views, description=description,
            variants=[{"sku": f"{slug.upper()}-{size}", "size": size, "colour": colour, "stock": stock}
                      for size, stock in sizes],
        )
    return {
        "women": women, "dresses": dresses, "tops": tops, "men": men, "shirts": shirts, "products": products,
    }
