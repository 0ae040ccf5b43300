"""Copywriter fixtures: a staff merchant, products with variants, and generation that never touches the real
weights: either the tiny random model (the real batched path) or planted texts (to test the grounding loop)."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from catalog.models import Category, Product, Variant
from copywriter import generation
from llm_core import serving
from tests.copywriter.tiny_model import tiny_model, tiny_tokenizer


@pytest.fixture(autouse=True)
def copy_settings(settings, tmp_path):
    settings.MODEL_DIR = tmp_path / "models"  # empty: no fine-tuned version, as on a fresh machine
    settings.VAR_DIR = tmp_path / "var"
    settings.COPY_DAILY_QUOTA = 500
    return settings


@pytest.fixture(autouse=True)
def tiny_base_model(monkeypatch):
    """The process-wide base model is the tiny one; nothing loads SmolLM2."""
    model, tokenizer = tiny_model(), tiny_tokenizer()
    monkeypatch.setattr(serving, "get_base_model", lambda: (model, tokenizer))
    return model, tokenizer


@pytest.fixture
def planted(monkeypatch) -> Callable[[Callable[[Any, int], str]], list[tuple[int, int]]]:
    """planted(writer): the model "writes" writer(request, attempt) instead; returns the log of
    (batch size, attempt) of every model call."""

    def install(writer: Callable[[Any, int], str]) -> list[tuple[int, int]]:
        calls: list[tuple[int, int]] = []

        def complete(engine: generation.Engine, requests: Sequence[generation.CopyRequest], attempt: int) -> list[str]:
            calls.append((len(requests), attempt))
            return [writer(request, attempt) for request in requests]

        monkeypatch.setattr(generation, "_complete", complete)
        return calls

    return install


@pytest.fixture
def faithful(planted):
    """A model that writes a grounded description from the facts it was given."""
    return planted(lambda request, attempt: f"{request.facts.colour} {request.facts.attribute('type').lower()} "
                                            f"from {request.facts.brand}, a neat everyday pick.")


@pytest.fixture
def category(db) -> Category:
    men = Category.objects.create(name="Men", slug="men")
    return Category.objects.create(name="Shirts", slug="men-shirts", parent=men)


@pytest.fixture
def make_product(db, category) -> Callable[..., Product]:
    counter = {"n": 0}

    def make(**fields: Any) -> Product:
        counter["n"] += 1
        n = counter["n"]
        fields.setdefault("category", category)
        fields.setdefault("title", f"Parx Men Blue Slim Fit Checked Casual Shirt {n}")
        fields.setdefault("slug", f"shirt-{n}")
        fields.setdefault("brand", "Parx")
        fields.setdefault("colour", "Blue")
        fields.setdefault("audience", "men")
        fields.setdefault("price", Decimal("719.00"))
        fields.setdefault("attributes", {"type": "Shirt", "pattern": "checked", "fit": "slim", "images": 5})
        product = Product.objects.create(**fields)
        for size in ("M", "L", "XL"):
            Variant.objects.create(product=product, sku=f"SKU-{n}-{size}", size=size, colour=product.colour,
                                   price=product.price, stock=5)
        return product

    return make


@pytest.fixture
def merchant(db):
    return get_user_model().objects.create_user(username="merchant", password="pass-word-123", is_staff=True)


@pytest.fixture
def staff_client(client, db):
    admin = get_user_model().objects.create_superuser(username="admin", email="a@example.com", password="x")
    client.force_login(admin)
    client.user = admin
    return client
