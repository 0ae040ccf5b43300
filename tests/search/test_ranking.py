from decimal import Decimal

import numpy as np
import pytest

from catalog.models import Product
from catalog.selectors import ProductFilters, product_ids
from catalog.search import ranking
from catalog.search.models import EMBEDDING_DIM
from catalog.search.selectors import index_generation, search_products
from catalog.search.services import index_generation_bump, index_products


def test_reciprocal_rank_fusion_rewards_agreement_between_rankers():
    fused = ranking.reciprocal_rank_fusion([[1, 2, 3], [3, 1, 4]], [1.0, 1.0], k=60)

    assert sorted(fused, key=lambda pk: -fused[pk]) == [1, 3, 2, 4]
    assert fused[1] == 1 / 61 + 1 / 62


def test_reciprocal_rank_fusion_weights_each_ranker():
    fused = ranking.reciprocal_rank_fusion([[1], [2]], [1.0, 2.0], k=60)

    assert fused[2] == 2 * fused[1]


def test_popularity_boost_grows_with_activity_and_conversion_but_stays_small():
    none = ranking.popularity_boost(views=0, sales=0)
    viewed = ranking.popularity_boost(views=100, sales=0)
    sold = ranking.popularity_boost(views=100, sales=30)
    huge = ranking.popularity_boost(views=10**9, sales=10**8)

    assert none < viewed < sold < huge
    assert huge < ranking.POPULARITY_WEIGHT + ranking.CONVERSION_WEIGHT
    # Not even a best seller outweighs the gap between first and second place in one ranker.
    assert huge < 2 * (1 / 61 - 1 / 62) * 60


def test_nearest_returns_the_most_similar_above_the_floor():
    vectors = np.eye(4, EMBEDDING_DIM, dtype=np.float32)
    index = ranking.SemanticIndex(1, "v", np.array([10, 20, 30, 40]), vectors)
    query = np.zeros(EMBEDDING_DIM, dtype=np.float32)
    query[:2] = [0.8, 0.6]

    assert index.nearest(query, limit=3) == [(10, np.float32(0.8)), (20, np.float32(0.6))]
    assert index.nearest(query, limit=1) == [(10, np.float32(0.8))]


def test_vectors_reload_when_the_generation_moves_on(small_catalog, make_product, concept_embedder):
    before = ranking.semantic_index(generation=index_generation())
    assert ranking.semantic_index(generation=index_generation()) is before

    make_product("Roadster Women Yellow Raincoat")
    from catalog.search.services import index_products

    index_products()
    after = ranking.semantic_index(generation=index_generation())

    assert after is not before and len(after.ids) == len(before.ids) + 1


def test_query_vectors_are_computed_once_per_text(small_catalog, concept_embedder):
    concept_embedder.calls.clear()

    ranking.query_vector("red kurta")
    ranking.query_vector("red kurta")
    ranking.query_vector("blue kurta")

    assert concept_embedder.calls == [1, 1]


def test_a_generation_bump_counts_up(db):
    assert index_generation() == 0
    assert index_generation_bump() == 1
    assert index_generation_bump() == 2


def test_nearest_among_given_ids_ignores_the_others_and_unknown_ids():
    vectors = np.eye(3, EMBEDDING_DIM, dtype=np.float32)
    index = ranking.SemanticIndex(1, "v", np.array([10, 20, 30]), vectors)
    query = np.zeros(EMBEDDING_DIM, dtype=np.float32)
    query[:3] = [0.9, 0.5, 0.4]

    assert [pk for pk, _ in index.nearest(query, limit=5, among=np.array([20, 30, 99]))] == [20, 30]
    assert index.nearest(query, limit=5, among=np.array([], dtype=np.int64)) == []


FACET_FILTERS = [
    ProductFilters(),
    ProductFilters(colours=("red",)),
    ProductFilters(colours=("RED", "navy")),
    ProductFilters(audiences=("women",)),
    ProductFilters(audiences=("men", "unisex"), colours=("White",)),
    ProductFilters(brands=("puma",)),
    ProductFilters(brands=("u.s. polo assn.", "Roadster"), audiences=("men",)),
    ProductFilters(min_price=Decimal("999"), max_price=Decimal("2299")),
    ProductFilters(max_price=Decimal("899.00"), colours=("white",)),
    ProductFilters(colours=("purple",)),
]


@pytest.mark.parametrize("filters", FACET_FILTERS, ids=str)
def test_facets_pass_exactly_the_products_the_catalog_filters_pass(small_catalog, filters):
    facets = ranking.facets(generation=index_generation())

    assert facets.ids_passing(filters).tolist() == sorted(product_ids(filters=filters))


def test_facets_within_a_category_pass_its_products_only(small_catalog):
    kurtas = small_catalog["red_kurta_w"].category

    passing = ranking.facets(generation=index_generation()).ids_passing(
        ProductFilters(audiences=("women",)), category_ids=[kurtas.pk]
    )

    assert passing.tolist() == sorted(product_ids(filters=ProductFilters(audiences=("women",)), category=kurtas))


def test_facets_reload_when_the_generation_moves_on_or_they_are_old(small_catalog, make_product, monkeypatch):
    before = ranking.facets(generation=index_generation())
    assert ranking.facets(generation=index_generation()) is before

    monkeypatch.setattr(ranking.time, "monotonic", lambda: before.loaded_at + ranking.FACETS_MAX_AGE + 1)
    aged = ranking.facets(generation=index_generation())
    assert aged is not before

    make_product("Roadster Women Yellow Raincoat")
    index_products()
    assert len(ranking.facets(generation=index_generation()).ids) == len(aged.ids) + 1


def test_stale_facets_never_let_a_product_through_a_filter_it_now_fails(small_catalog):
    ranking.facets(generation=index_generation())  # loaded while the red kurta costs 1299
    kurta = small_catalog["red_kurta_w"]
    Product.objects.filter(pk=kurta.pk).update(price=Decimal("5000"))

    results = search_products(query="red kurta under 2000")

    assert kurta.pk not in [p.pk for p in results.products]
