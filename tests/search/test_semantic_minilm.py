"""The real all-MiniLM-L6-v2 model behind semantic and hybrid ranking (slow: loads the model)."""
import pytest

from catalog.search import ranking
from catalog.search.selectors import search_products
from catalog.search.services import index_products

pytestmark = pytest.mark.slow


@pytest.fixture
def minilm(concept_embedder, monkeypatch, tmp_path):
    monkeypatch.setenv("MODEL_DIR", str(tmp_path))
    previous = ranking.set_embedder(ranking.MiniLMEmbedder())
    yield
    ranking.set_embedder(previous)


@pytest.mark.parametrize(
    "query, expected_category",
    [("tee for men", "T-Shirts"), ("trainers", "Sneakers"), ("slacks for men", "Trousers"), ("kurti", "Kurtas")],
)
def test_paraphrases_find_the_right_products_where_keywords_cannot(minilm, small_catalog, query, expected_category):
    index_products(full=True)

    hybrid = search_products(query=query)
    keyword = search_products(query=query, mode="keyword", correct_spelling=False)

    assert hybrid.products[0].category.name == expected_category
    assert not any(p.category.name == expected_category for p in keyword.products)


def test_hybrid_keeps_exact_matches_on_top(minilm, small_catalog):
    index_products(full=True)

    results = search_products(query="red silk kurta")

    assert results.products[0].title == "Biba Women Red Silk Kurta"
