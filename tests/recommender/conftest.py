"""Recommender fixtures: a small store with shoppers whose journeys follow two tastes, a private model
registry per test, and a tiny trained model."""
import itertools
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import pytest
import torch
from django.contrib.auth import get_user_model
from django.utils import timezone

from catalog.models import Category, Product, ShopperEvent, Variant
from recommender.serving import reset_active_model
from recommender.strategies import reset_event_cooccurrence
from recommender.training import TrainingConfig

_sequence = itertools.count(1)


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny tensors gain nothing from a second thread, and on a busy machine OpenMP's waiting threads cost
    seconds per step: the tests run single-threaded."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(autouse=True)
def _private_model_dir(settings, tmp_path):
    """Each test has its own MODEL_DIR, and no model or co-occurrence index left from an earlier test."""
    settings.MODEL_DIR = tmp_path / "models"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    reset_active_model()
    reset_event_cooccurrence()
    yield
    reset_active_model()
    reset_event_cooccurrence()


@pytest.fixture
def make_product(db) -> Callable[..., Product]:
    def make(title: str, *, category: Category, brand: str = "Acme", stock: int = 5, active: bool = True,
             sales: int = 0) -> Product:
        n = next(_sequence)
        product = Product.objects.create(
            title=title, slug=f"{title.lower().replace(' ', '-')}-{n}", brand=brand, category=category,
            price=Decimal("999.00"), is_active=active, sales_count=sales,
        )
        Variant.objects.create(product=product, sku=f"RECO-{n}", price=product.price, stock=stock)
        return product

    return make


@pytest.fixture
def store(db, make_product) -> dict[str, Product]:
    """Running gear (brands Stride, Pace, Trail) and kitchenware (Cook, Pan), plus one sold-out and one
    inactive running product. Best sellers: run-shoes, then pan."""
    running = Category.objects.create(name="Running", slug="running")
    kitchen = Category.objects.create(name="Kitchen", slug="kitchen")
    specs = [
        ("Run Shoes", running, "Stride", 5, True, 50),
        ("Run Socks", running, "Stride", 5, True, 10),
        ("Run Cap", running, "Stride", 5, True, 8),
        ("Run Shorts", running, "Pace", 5, True, 7),
        ("Run Watch", running, "Pace", 5, True, 6),
        ("Run Bottle", running, "Trail", 5, True, 5),
        ("Run Vest", running, "Trail", 0, True, 4),  # sold out
        ("Run Gel", running, "Trail", 5, False, 3),  # inactive
        ("Pan", kitchen, "Cook", 5, True, 40),
        ("Pot", kitchen, "Cook", 5, True, 9),
        ("Knife", kitchen, "Cook", 5, True, 8),
        ("Spatula", kitchen, "Pan", 5, True, 2),
        ("Whisk", kitchen, "Pan", 5, True, 1),
    ]
    products = {}
    for title, category, brand, stock, active, sales in specs:
        key = title.lower().replace(" ", "-")
        products[key] = make_product(title, category=category, brand=brand, stock=stock, active=active, sales=sales)
    return products


@pytest.fixture
def make_user(db) -> Callable[..., object]:
    def make(username: str | None = None) -> object:
        name = username or f"reco-shopper{next(_sequence)}"
        return get_user_model().objects.create_user(username=name, email=f"{name}@example.com", password="pw-123456")

    return make


@pytest.fixture
def record_events(db) -> Callable[..., None]:
    """record_events(user=..., session_key=..., products=[...], kinds=[...]): one event per product, a minute
    apart, in order."""
    clock = {"now": timezone.now() - timedelta(days=1)}

    def record(products: list[Product], *, user=None, session_key: str = "", kinds: list[str] | None = None) -> None:
        for i, product in enumerate(products):
            clock["now"] += timedelta(minutes=1)
            kind = kinds[i] if kinds else ShopperEvent.Kind.VIEW
            ShopperEvent.objects.create(kind=kind, user=user, session_key=session_key, product=product,
                                        created_at=clock["now"])

    return record


RUNNING_JOURNEY = ["run-shoes", "run-socks", "run-cap", "run-shorts", "run-watch", "run-bottle"]
KITCHEN_JOURNEY = ["pan", "pot", "knife", "spatula", "whisk"]


@pytest.fixture
def shoppers(store, make_user, record_events) -> list:
    """24 signed-in shoppers: even ones walk the running journey, odd ones the kitchen one, each starting at a
    different point (so every product is followed by the next one of its journey)."""
    users = []
    for n in range(24):
        user = make_user(f"taste{n}")
        journey = RUNNING_JOURNEY if n % 2 == 0 else KITCHEN_JOURNEY
        start = (n // 2) % 2
        record_events([store[key] for key in journey[start:]], user=user)
        users.append(user)
    return users


FAST_TRAINING = TrainingConfig(max_epochs=4, patience=4, batch_size=64)


@pytest.fixture
def trained_model(shoppers, settings):
    """A tiny model trained on the shoppers' journeys, registered and active."""
    from recommender.services import recommender_train

    return recommender_train(training=FAST_TRAINING)
