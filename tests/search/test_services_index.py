import numpy as np
import pytest
from django.core.management import call_command
from django.db import connection

from catalog.models import Product
from catalog.search import tasks
from catalog.search.backends import keyword_backend
from catalog.search.models import IndexState, ProductEmbedding
from catalog.search.selectors import _within, index_generation, search_products
from catalog.search.services import index_products


def keyword_ids(*terms: str) -> list[int]:
    within = _within(Product.objects.all())
    return [hit.pk for hit in keyword_backend().ranked(list(terms), within=within, limit=50)]


def test_indexing_embeds_every_product_once_and_moves_the_generation_on(small_catalog, concept_embedder):
    assert ProductEmbedding.objects.count() == Product.objects.count() == 14
    vector = ProductEmbedding.objects.get(product=small_catalog["red_kurta_w"]).as_array()
    assert vector.shape == (384,) and np.isclose(np.linalg.norm(vector), 1.0, atol=1e-5)
    assert index_generation() == 1
    assert sum(concept_embedder.calls) == 14


def test_a_second_run_with_nothing_changed_embeds_nothing_and_keeps_the_generation(small_catalog, concept_embedder):
    concept_embedder.calls.clear()

    report = index_products()

    assert (report.checked, report.indexed, report.generation) == (14, 0, 1)
    assert concept_embedder.calls == []


def test_only_products_whose_text_changed_are_embedded_again(small_catalog, concept_embedder):
    concept_embedder.calls.clear()
    Product.objects.filter(pk=small_catalog["black_jacket_m"].pk).update(title="Roadster Men Black Bomber Jacket")
    Product.objects.filter(pk=small_catalog["blue_jeans_w"].pk).update(price=1)  # price is not indexed text

    report = index_products()

    assert report.indexed == 1 and concept_embedder.calls == [1]
    assert keyword_ids("bomber") == [small_catalog["black_jacket_m"].pk]
    assert search_products(query="bomber", mode="keyword").products[0].pk == small_catalog["black_jacket_m"].pk


def test_a_new_embedding_model_re_embeds_everything(small_catalog, concept_embedder):
    concept_embedder.calls.clear()
    concept_embedder.version = "test-concepts-2"

    report = index_products()

    assert report.indexed == 14
    assert set(ProductEmbedding.objects.values_list("model_version", flat=True)) == {"test-concepts-2"}


def test_deleted_products_leave_the_keyword_index(small_catalog):
    jacket = small_catalog["black_jacket_m"]
    jacket.delete()

    index_products()

    assert keyword_ids("jacket") == []
    assert not ProductEmbedding.objects.filter(product_id=jacket.pk).exists()


def test_full_reindex_rewrites_everything(small_catalog, concept_embedder):
    concept_embedder.calls.clear()

    report = index_products(full=True)

    assert report.indexed == 14 and sum(concept_embedder.calls) == 14
    assert report.generation == 2


def test_the_periodic_task_indexes_what_changed(small_catalog, make_product):
    make_product("Roadster Women Yellow Raincoat", brand="Roadster", category="Jackets")

    result = tasks.index_changed_products.delay().get()

    assert result["indexed"] == 1
    assert search_products(query="raincoat").products[0].title == "Roadster Women Yellow Raincoat"


def test_the_by_id_task_indexes_only_those_products(small_catalog, make_product):
    first = make_product("Roadster Women Yellow Raincoat", brand="Roadster")
    make_product("Roadster Men Green Windcheater", brand="Roadster")

    result = tasks.index_products_by_id.delay([first.pk]).get()

    assert result == {"checked": 1, "indexed": 1, "generation": 2}
    assert keyword_ids("windcheater") == []


def test_the_command_reports_what_it_did(small_catalog, capsys):
    call_command("index_products", "--full", verbosity=0)

    assert "checked 14 products, indexed 14" in capsys.readouterr().out
    assert IndexState.objects.get().generation == 2


def test_searches_before_anything_is_indexed_find_nothing_without_error(make_product):
    make_product("Roadster Men Black Jacket")

    results = search_products(query="jacket")

    assert results.total == 0


@pytest.mark.django_db
def test_the_keyword_index_table_exists_on_this_engine():
    table = {"sqlite": "search_product_fts", "postgresql": "search_product_document"}[connection.vendor]

    assert table in connection.introspection.table_names()


def test_the_demo_seeder_indexes_the_catalog(make_product):
    import io

    from catalog.search import demo

    make_product("Roadster Men Black Jacket")
    out = io.StringIO()

    demo.seed(stdout=out)

    assert out.getvalue() == "Search index: 1 products checked, 1 indexed.\n"
