"""Search fixtures: a small, hand-made catalog and a deterministic embedder standing in for MiniLM (the real
model is exercised by the tests marked `slow`)."""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal

import numpy as np
import pytest

from catalog.models import Category, Product, Variant
from catalog.search import ranking, selectors
from catalog.search.models import EMBEDDING_DIM
from catalog.search.services import index_products
from catalog.search.text import index_words

# Words the stand-in model treats as meaning the same thing, as a real sentence embedder would.
_CONCEPTS = [
    {"tshirt", "tee", "tees", "tshirts"},
    {"sneakers", "sneaker", "trainers", "trainer"},
    {"trousers", "pants", "slacks", "trouser"},
    {"kurta", "kurti", "kurtas", "kurtis"},
    {"jacket", "jackets", "coat"},
]


class ConceptEmbedder:
    """Bag of words over hashed word vectors, with synonyms sharing a vector. Normalised, deterministic."""

    version = "test-concepts-1"

    def __init__(self) -> None:
        self.calls: list[int] = []

    def _word(self, word: str) -> np.ndarray:
        for group in _CONCEPTS:
            if word in group:
                word = sorted(group)[0]
        seed = int.from_bytes(hashlib.sha1(word.encode()).digest()[:4], "big")
        return np.random.default_rng(seed).standard_normal(EMBEDDING_DIM).astype(np.float32)

    def words(self) -> frozenset[str]:
        return frozenset(word for group in _CONCEPTS for word in group) | {"ballet", "shirt"}

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(len(texts))
        rows = []
        for text in texts:
            words = index_words(text) or ["<empty>"]
            vector = sum(self._word(w) for w in words)
            rows.append(vector / np.linalg.norm(vector))
        return np.stack(rows).astype(np.float32)


@pytest.fixture(autouse=True)
def concept_embedder() -> Iterator[ConceptEmbedder]:
    embedder = ConceptEmbedder()
    previous = ranking.set_embedder(embedder)
    selectors._vocabulary = None  # each test's catalog has its own vocabulary
    yield embedder
    ranking.set_embedder(previous)
    selectors._vocabulary = None


@pytest.fixture
def make_product(db) -> Callable[..., Product]:
    categories: dict[str, Category] = {}
    counter = iter(range(1, 10_000))

    def make(
        title: str,
        *,
        brand: str = "Aisle Basics",
        category: str = "Other",
        colour: str = "",
        audience: str = "",
        price: str = "999",
        description: str = "",
        sizes: Sequence[str] = ("",),
        is_active: bool = True,
        views: int = 0,
        sales: int = 0,
    ) -> Product:
        n = next(counter)
        if category not in categories:
            categories[category] = Category.objects.create(name=category, slug=f"cat-{len(categories)}")
        product = Product.objects.create(
            title=title,
            slug=f"p-{n}",
            brand=brand,
            category=categories[category],
            description=description,
            colour=colour,
            audience=audience,
            price=Decimal(price),
            is_active=is_active,
            view_count=views,
            sales_count=sales,
        )
        for size in sizes:
            sku = f"SKU-{n}-{size or 'one'}"
            Variant.objects.create(product=product, sku=sku, size=size, price=product.price, stock=5)
        return product

    return make


@pytest.fixture
def small_catalog(make_product) -> dict[str, Product]:
    """Fourteen products across a few types, colours, audiences, brands and prices, indexed."""
    products = {
        "red_kurta_w": make_product("Anouk Women Red Cotton Printed Kurta", brand="Anouk", category="Kurtas",
                                    colour="Red", audience="women", price="1299", sizes=("S", "M", "L")),
        "red_silk_kurta_w": make_product("Biba Women Red Silk Kurta", brand="Biba", category="Kurtas",
                                         colour="Red", audience="women", price="2499", sizes=("M",)),
        "blue_kurta_w": make_product("Anouk Women Blue Cotton Kurta", brand="Anouk", category="Kurtas",
                                     colour="Blue", audience="women", price="999"),
        "red_kurta_m": make_product("Manyavar Men Red Cotton Kurta", brand="Manyavar", category="Kurtas",
                                    colour="Red", audience="men", price="1499"),
        "black_tshirt_m": make_product("Puma Men Black Printed T-shirt", brand="Puma", category="T-Shirts",
                                       colour="Black", audience="men", price="799", sizes=("M", "XL")),
        "white_tshirt_m": make_product("HRX Men White Solid T-shirt", brand="HRX", category="T-Shirts",
                                       colour="White", audience="men", price="499", sizes=("L",)),
        "white_tshirt_w": make_product("Puma Women White Round Neck T-shirt", brand="Puma", category="T-Shirts",
                                       colour="White", audience="women", price="899"),
        "white_sneakers_m": make_product("Puma Men White Sneakers", brand="Puma", category="Sneakers",
                                         colour="White", audience="men", price="3499", sizes=("UK8", "UK9")),
        "black_sneakers_w": make_product("Roadster Women Black Sneakers", brand="Roadster", category="Sneakers",
                                         colour="Black", audience="women", price="1999"),
        "navy_trousers_m": make_product("Louis Philippe Men Navy Blue Slim Fit Formal Trousers",
                                        brand="Louis Philippe", category="Trousers", colour="Navy",
                                        audience="men", price="2199", sizes=("32", "34")),
        "blue_jeans_w": make_product("Levis Women Blue Skinny Fit Jeans", brand="Levis", category="Jeans",
                                     colour="Blue", audience="women", price="2599"),
        "black_jacket_m": make_product("Roadster Men Black Denim Jacket", brand="Roadster", category="Jackets",
                                       colour="Black", audience="men", price="2299",
                                       description="Black denim jacket with button closure"),
        "green_shirt_m": make_product("US Polo Assn Men Green Casual Shirt", brand="U.S. Polo Assn.",
                                      category="Shirts", colour="Green", audience="men", price="1599"),
        "retired_kurta": make_product("Anouk Women Red Kurta Old Season", brand="Anouk", category="Kurtas",
                                      colour="Red", audience="women", price="899", is_active=False),
    }
    index_products()
    return products
