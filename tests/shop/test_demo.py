from decimal import Decimal

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command

from catalog.models import Category, Product, ShopperEvent, Variant
from shop import demo
from shop.models import Order


@pytest.fixture
def small_catalog(db):
    """Two departments with two categories each, four brands, a spread of prices and colours."""
    for department in ("Women", "Men"):
        parent = Category.objects.create(name=department, slug=department.lower())
        for kind in ("Tops", "Jeans"):
            category = Category.objects.create(name=kind, slug=f"{department}-{kind}".lower(), parent=parent)
            for n in range(12):
                product = Product.objects.create(
                    title=f"{department} {kind} {n}", slug=f"{department}-{kind}-{n}".lower(), brand=f"Brand {n % 4}",
                    category=category, price=Decimal(499 + 100 * n), colour=("Red", "Blue", "Black")[n % 3],
                )
                for size in ("S", "M", "L"):
                    Variant.objects.create(product=product, sku=f"{product.slug}-{size}", size=size, price=product.price, stock=50)


def test_the_demo_has_at_least_two_hundred_shoppers():
    assert demo.SHOPPER_COUNT >= 200


def test_seed_creates_accounts_histories_and_orders_in_several_statuses_and_is_idempotent(small_catalog, monkeypatch):
    monkeypatch.setattr(demo, "SHOPPER_COUNT", 30)

    demo.seed()
    counts = (get_user_model().objects.count(), ShopperEvent.objects.count(), Order.objects.count())
    demo.seed()

    assert (get_user_model().objects.count(), ShopperEvent.objects.count(), Order.objects.count()) == counts
    assert counts[0] == 32  # admin, demo and 30 shoppers
    assert authenticate(username="shopper001", password="aisle-shopper") is not None
    assert authenticate(username="demo", password="aisle-demo") is not None
    admin = authenticate(username="admin", password="aisle-admin")
    assert admin.is_staff and admin.is_superuser
    assert set(Order.objects.filter(user__username="demo").values_list("status", flat=True)) == {"paid", "shipped", "delivered"}
    assert Order.objects.values("status").distinct().count() >= 4
    assert not get_user_model().objects.filter(username__startswith="shopper", shopperevent__isnull=True).exists()


def test_shoppers_browse_mostly_within_their_taste(small_catalog, monkeypatch):
    monkeypatch.setattr(demo, "SHOPPER_COUNT", 10)

    demo.seed()

    for user in get_user_model().objects.filter(username__startswith="shopper"):
        views = ShopperEvent.objects.filter(user=user, kind="view")
        top_two = list(
            views.values_list("product__category", flat=True).order_by("product__category").distinct()
        )
        per_category = sorted((views.filter(product__category=c).count() for c in top_two), reverse=True)
        assert sum(per_category[:2]) >= 0.75 * views.count()


SEEDER_CALLS: list[str] = []


def first_seeder(*, stdout=None):
    SEEDER_CALLS.append("first")


def second_seeder(*, stdout=None):
    SEEDER_CALLS.append("second")


def test_seed_demo_runs_the_configured_seeders_in_order(db, settings, capsys):
    SEEDER_CALLS.clear()
    settings.DEMO_SEEDERS = ["tests.shop.test_demo.first_seeder", "tests.shop.test_demo.second_seeder"]

    call_command("seed_demo")

    assert SEEDER_CALLS == ["first", "second"]
    assert "Demo store ready" in capsys.readouterr().out
