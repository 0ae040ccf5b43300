"""Keyword search backends: full-text indexes of products, one per database engine, behind one interface.

- SQLite (the embedded default): an FTS5 virtual table `search_product_fts` (title, brand, extra,
  description; rowid = product id) with the porter stemmer, ranked by bm25 with column weights.
- PostgreSQL: a table `search_product_document` holding one weighted tsvector per product (title A,
  brand and extra B, description C) under a GIN index, ranked by ts_rank.

Each table is created by a migration that runs only on its own engine (search/migrations/0002) and is kept
in sync by the indexer (search.services), never by the request path. "extra" holds the category name, the
colour, the audience and the structured attributes. Text goes in already normalised by search.text, so
both engines see the same words.

Filters are applied inside the keyword query (`within`: the SQL of the filtered product ids), so a
restrictive filter never empties a page that the index had cut to its top rows before filtering."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from django.db import connection

# Relative column weights: title, brand, extra, description. PostgreSQL's A/B/B/C weights are 1.0/0.4/0.4/0.2
# by default; bm25 gets the same proportions, so both engines agree on what matters.
_BM25_WEIGHTS = (10.0, 4.0, 4.0, 2.0)

SQLITE_FTS_TABLE = "search_product_fts"
POSTGRES_DOCUMENT_TABLE = "search_product_document"


@dataclass(frozen=True)
class Document:
    """What the keyword index holds for one product (each field normalised by search.text.index_text)."""

    product_id: int
    title: str
    brand: str
    extra: str
    description: str


Within = tuple[str, Sequence[object]]  # SQL selecting the allowed product ids, and its parameters


class KeywordHit(NamedTuple):
    pk: int
    score: float  # the engine's own scale: higher is better, comparable only within one query
    complete: bool  # every term is in the product's name (title, brand, category, attributes)


class KeywordBackend:
    """The interface both engines implement."""

    def upsert(self, documents: Sequence[Document]) -> None:
        raise NotImplementedError

    def delete_orphans(self) -> int:
        """Drop documents whose product no longer exists; return how many."""
        raise NotImplementedError

    def analyze(self) -> None:
        """Refresh the planner's statistics of the index after a large change."""

    def search(
        self, terms: Sequence[str], *, within: Within, limit: int, match_all: bool, names_only: bool = False
    ) -> list[tuple[int, float]]:
        """(product id, score) best first, among products selected by `within`, matching all of `terms`
        (`match_all`) or any of them, anywhere or (`names_only`) in the title, brand or extra fields.
        Higher scores are better."""
        raise NotImplementedError

    def complete(self, terms: Sequence[str], prefix: str, *, within: Within, limit: int) -> list[int]:
        """Product ids matching all of `terms` and a word starting with `prefix`, best first."""
        raise NotImplementedError

    def ranked(self, terms: Sequence[str], *, within: Within, limit: int) -> list[KeywordHit]:
        """Products in three tiers, each by score: every term in the product's name (title, brand, category,
        attributes); every term somewhere (the description included); then, if those are fewer than
        `limit`, some of the terms. A shopper who types two words wants both, and a product that is called
        what they typed beats one whose description mentions it (a saree "with blouse piece" is no answer
        to "blouse"); but one good word should still find something."""
        terms = [t for t in dict.fromkeys(terms) if t]
        if not terms:
            return []
        named = self.search(terms, within=within, limit=limit, match_all=True, names_only=True)
        hits = [KeywordHit(pk, score, True) for pk, score in named]
        seen = {hit.pk for hit in hits}
        if len(hits) < limit:
            full = self.search(terms, within=within, limit=limit, match_all=True)
            hits += [KeywordHit(pk, score, False) for pk, score in full if pk not in seen][: limit - len(hits)]
            seen.update(hit.pk for hit in hits)
        if len(terms) > 1 and len(hits) < limit:
            partial = self.search(terms, within=within, limit=limit, match_all=False)
            hits += [KeywordHit(pk, score, False) for pk, score in partial if pk not in seen][: limit - len(hits)]
        return hits


class SQLiteBackend(KeywordBackend):
    def upsert(self, documents: Sequence[Document]) -> None:
        if not documents:
            return
        with connection.cursor() as cursor:
            ids = [d.product_id for d in documents]
            for chunk in _chunks(ids, 500):
                cursor.execute(
                    f"DELETE FROM {SQLITE_FTS_TABLE} WHERE rowid IN ({', '.join(['%s'] * len(chunk))})", chunk
                )
            cursor.executemany(
                f"INSERT INTO {SQLITE_FTS_TABLE} (rowid, title, brand, extra, description) VALUES (%s, %s, %s, %s, %s)",
                [(d.product_id, d.title, d.brand, d.extra, d.description) for d in documents],
            )

    def delete_orphans(self) -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {SQLITE_FTS_TABLE} WHERE rowid NOT IN (SELECT id FROM catalog_product)"
            )
            return cursor.rowcount

    def search(
        self, terms: Sequence[str], *, within: Within, limit: int, match_all: bool, names_only: bool = False
    ) -> list[tuple[int, float]]:
        # Every term is quoted, so nothing a shopper types is read as FTS5 query syntax.
        match = (" " if match_all else " OR ").join(f'"{term}"' for term in terms)
        if names_only:
            match = f"{{title brand extra}} : ({match})"
        return self._query(match, within, limit)

    def complete(self, terms: Sequence[str], prefix: str, *, within: Within, limit: int) -> list[int]:
        match = " ".join([*(f'"{term}"' for term in terms), f'"{prefix}"*'])
        return [pk for pk, _ in self._query(match, within, limit)]

    def _query(self, match: str, within: Within, limit: int) -> list[tuple[int, float]]:
        within_sql, within_params = within
        weights = ", ".join(str(w) for w in _BM25_WEIGHTS)
        # A join, not "rowid IN (...)": with IN, SQLite re-checks the subquery for every full-text match and
        # a query takes ~100x longer.
        sql = (
            f"SELECT f.rowid, bm25({SQLITE_FTS_TABLE}, {weights}) AS rank FROM {SQLITE_FTS_TABLE} f "
            f"JOIN ({within_sql}) allowed ON allowed.pk = f.rowid "
            f"WHERE {SQLITE_FTS_TABLE} MATCH %s ORDER BY rank LIMIT %s"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [*within_params, match, limit])
            # bm25() is lower-is-better; negate it so every backend's scores grow with relevance.
            return [(int(pk), -float(rank)) for pk, rank in cursor.fetchall()]


class PostgresBackend(KeywordBackend):
    _VECTOR = (
        "setweight(to_tsvector('english', %s), 'A') || setweight(to_tsvector('english', %s), 'B') || "
        "setweight(to_tsvector('english', %s), 'B') || setweight(to_tsvector('english', %s), 'C')"
    )

    def upsert(self, documents: Sequence[Document]) -> None:
        if not documents:
            return
        with connection.cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO {POSTGRES_DOCUMENT_TABLE} (product_id, document) VALUES (%s, {self._VECTOR}) "
                "ON CONFLICT (product_id) DO UPDATE SET document = EXCLUDED.document",
                [(d.product_id, d.title, d.brand, d.extra, d.description) for d in documents],
            )

    def delete_orphans(self) -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {POSTGRES_DOCUMENT_TABLE} d "
                "WHERE NOT EXISTS (SELECT 1 FROM catalog_product p WHERE p.id = d.product_id)"
            )
            return cursor.rowcount

    def analyze(self) -> None:
        # Without fresh statistics a just-filled table looks empty to the planner, which then probes the
        # documents one by one instead of scanning them (40 ms instead of 3 for a broad filter).
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {POSTGRES_DOCUMENT_TABLE}")

    def search(
        self, terms: Sequence[str], *, within: Within, limit: int, match_all: bool, names_only: bool = False
    ) -> list[tuple[int, float]]:
        text = " ".join(terms) if match_all else " or ".join(terms)
        query = "plainto_tsquery('english', %s)" if match_all else "websearch_to_tsquery('english', %s)"
        return self._query(query, [text], within, limit, names_only=names_only)

    def ranked(self, terms: Sequence[str], *, within: Within, limit: int) -> list[KeywordHit]:
        """The three tiers of KeywordBackend.ranked in one statement (one round trip instead of two or
        three, and the planner matches the words through the GIN index before filtering, where the
        separate queries scanned the documents): rows matching any term, ordered by tier (every term in
        the name, every term anywhere, some), then by the rank of the tier's own query."""
        terms = [t for t in dict.fromkeys(terms) if t]
        if not terms:
            return []
        within_sql, within_params = within
        sql = (
            "WITH query AS (SELECT plainto_tsquery('english', %s) AS q_all, "
            "websearch_to_tsquery('english', %s) AS q_any), "
            f"matched AS (SELECT d.product_id, d.document FROM {POSTGRES_DOCUMENT_TABLE} d, query "
            "WHERE d.document @@ query.q_any) "
            "SELECT m.product_id, ts_filter(m.document, '{a,b}') @@ query.q_all AS named, "
            "m.document @@ query.q_all AS every, "
            "CASE WHEN m.document @@ query.q_all THEN ts_rank(m.document, query.q_all, 1) "
            "ELSE ts_rank(m.document, query.q_any, 1) END AS rank "
            f"FROM matched m, query WHERE m.product_id IN ({within_sql}) "
            "ORDER BY named DESC, every DESC, rank DESC, m.product_id LIMIT %s"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [" ".join(terms), " or ".join(terms), *within_params, limit])
            return [KeywordHit(int(pk), float(rank), bool(named)) for pk, named, _, rank in cursor.fetchall()]

    def complete(self, terms: Sequence[str], prefix: str, *, within: Within, limit: int) -> list[int]:
        # Prefixes are matched unstemmed ('simple'): "kurt" must find the lexeme "kurta".
        query = "(plainto_tsquery('english', %s) && to_tsquery('simple', %s))"
        return [pk for pk, _ in self._query(query, [" ".join(terms), f"{prefix}:*"], within, limit)]

    def _query(
        self, tsquery: str, query_params: list, within: Within, limit: int, *, names_only: bool = False
    ) -> list[tuple[int, float]]:
        within_sql, within_params = within
        # The names are the A and B lexemes (title; brand and extra). The plain @@ stays for the GIN index.
        names = "AND ts_filter(d.document, '{a,b}') @@ query.q " if names_only else ""
        # Normalisation 1 divides by 1 + log(length), as bm25 favours the shorter of two equal matches.
        sql = (
            f"SELECT d.product_id, ts_rank(d.document, query.q, 1) AS rank "
            f"FROM {POSTGRES_DOCUMENT_TABLE} d, (SELECT {tsquery} AS q) query "
            f"WHERE d.document @@ query.q {names}AND d.product_id IN ({within_sql}) "
            "ORDER BY rank DESC, d.product_id LIMIT %s"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [*query_params, *within_params, limit])
            return [(int(pk), float(rank)) for pk, rank in cursor.fetchall()]


def _chunks(items: Sequence[int], size: int) -> Iterable[Sequence[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def keyword_backend() -> KeywordBackend:
    """The backend for the default database's engine."""
    return PostgresBackend() if connection.vendor == "postgresql" else SQLiteBackend()

