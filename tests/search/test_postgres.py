"""What only PostgreSQL has: the tsvector document table, its GIN index and ts_rank weights. The rest of
the suite runs on PostgreSQL too when DATABASE_URL points at one (as in CI)."""
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog.models import Product
from catalog.search.backends import KeywordBackend, PostgresBackend, keyword_backend
from catalog.search.selectors import _within, search_products
from catalog.search.services import index_products


def test_postgres_keeps_one_weighted_document_per_product_under_a_gin_index(require_postgres, small_catalog):
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM search_product_document")
        assert cursor.fetchone()[0] == Product.objects.count()
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = 'search_product_document'")
        assert any("USING gin (document)" in row[0] for row in cursor.fetchall())
        cursor.execute(
            "SELECT document::text FROM search_product_document WHERE product_id = %s",
            [small_catalog["black_jacket_m"].pk],
        )
        document = cursor.fetchone()[0]
    assert "'jacket':5A" in document  # the title's words weigh A
    assert "'roadster':" in document and "B" in document.split("'roadster':")[1].split(" ")[0]


def test_postgres_uses_its_own_backend_and_ranks_title_matches_first(require_postgres, small_catalog, make_product):
    assert isinstance(keyword_backend(), PostgresBackend)
    make_product("Roadster Men Blue Shirt", brand="Roadster", description="Goes well with a denim jacket")

    index_products()

    ranked = keyword_backend().ranked(["jacket"], within=_within(Product.objects.all()), limit=5)
    assert ranked[0].pk == small_catalog["black_jacket_m"].pk
    assert [p.title for p in search_products(query="denim jaket", mode="keyword").products][0] == (
        "Roadster Men Black Denim Jacket"
    )


def test_the_indexer_drops_documents_of_deleted_products(require_postgres, small_catalog):
    small_catalog["black_jacket_m"].delete()
    # Searches join the live products, so a stale document never shows, even before the indexer runs.
    assert keyword_backend().ranked(["jacket"], within=_within(Product.objects.all()), limit=5) == []

    index_products()

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM search_product_document")
        assert cursor.fetchone()[0] == Product.objects.count()


@pytest.mark.parametrize(
    ("terms", "limit"),
    [(["jacket"], 5), (["black", "jacket"], 20), (["denim", "kurta", "puma"], 20), (["white", "tshirt"], 2), (["zzz"], 5)],
)
def test_postgres_ranks_the_three_tiers_in_one_statement_as_the_tier_by_tier_queries_do(
    require_postgres, small_catalog, terms, limit
):
    backend = PostgresBackend()
    within = _within(Product.objects.filter(is_active=True))

    with CaptureQueriesContext(connection) as queries:
        hits = backend.ranked(terms, within=within, limit=limit)

    assert len(queries) == 1
    assert hits == KeywordBackend.ranked(backend, terms, within=within, limit=limit)
