"""Factories for the ordering tests: variants with stock, shoppers, carts and placed orders."""
import itertools
from collections.abc import Callable
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from catalog.models import Category, Product, Variant
from shop import services
from shop.models import Cart, Order
from shop.selectors import Owner

SUCCESS_CARD = "4242 4242 4242 4242"
DECLINED_CARD = "4000 0000 0000 0002"
PENDING_CARD = "4000 0000 0000 3220"

_sequence = itertools.count(1)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Real hashing costs a third of a second per user; these tests create many users."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def make_variant(db) -> Callable[..., Variant]:
    def make(*, stock: int = 10, price: str = "500.00", sku: str | None = None, title: str | None = None,
             is_active: bool = True, product_active: bool = True, colour: str = "Red", size: str = "M") -> Variant:
        n = next(_sequence)
        category, _ = Category.objects.get_or_create(slug="tops", defaults={"name": "Tops"})
        product = Product.objects.create(
            title=title or f"Cotton tee {n}",
            slug=f"cotton-tee-{n}",
            brand="Aisle Basics",
            category=category,
            price=Decimal(price),
            is_active=product_active,
        )
        return Variant.objects.create(
            product=product, sku=sku or f"SKU-{n:05d}", colour=colour, size=size, price=Decimal(price),
            stock=stock, is_active=is_active,
        )

    return make


@pytest.fixture
def make_user(db) -> Callable[..., object]:
    def make(username: str | None = None, **extra: object) -> object:
        name = username or f"shopper{next(_sequence)}"
        return get_user_model().objects.create_user(username=name, email=f"{name}@example.com", password="pass-word-123", **extra)

    return make


@pytest.fixture
def shopper(make_user):
    return make_user("asha")


@pytest.fixture
def other_shopper(make_user):
    return make_user("ravi")


@pytest.fixture
def address() -> services.ShippingAddress:
    return services.ShippingAddress(name="Asha Rao", line1="12 MG Road", city="Bengaluru", postcode="560001", phone="+91 98450 00000")


@pytest.fixture
def cart_with(make_variant) -> Callable[..., Cart]:
    """A user's (or guest session's) cart holding the given {variant: quantity}."""

    def make(owner_user=None, items: dict[Variant, int] | None = None, *, session_key: str | None = None) -> Cart:
        owner = Owner(user=owner_user) if owner_user is not None else Owner(session_key=session_key or f"guest{next(_sequence):010d}")
        cart = services.cart_get_or_create(owner=owner)
        for variant, quantity in (items or {}).items():
            services.cart_add_item(cart=cart, sku=variant.sku, quantity=quantity)
        return cart

    return make


@pytest.fixture
def place_order(cart_with, make_variant, address) -> Callable[..., Order]:
    """Place an order through checkout for `user` (one fresh variant unless `items` are given)."""

    def place(user, items: dict[Variant, int] | None = None, *, card: str = SUCCESS_CARD, key: str = "") -> Order:
        cart = cart_with(user, items or {make_variant(stock=10): 2})
        order, _created = services.order_place(
            cart=cart, email=user.email, address=address, shipping_method="standard", payment_token=card,
            idempotency_key=key, actor=user,
        )
        return order

    return place


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def shopper_api(api_client, shopper) -> APIClient:
    api_client.force_authenticate(shopper)
    return api_client
