"""Semantic ranking and fusion.

- Product vectors (MiniLM sentence embeddings, computed by the indexer, stored in ProductEmbedding) are
  loaded into one numpy matrix per process and reloaded only when the index generation changes; a query is
  one matrix-vector product (11.5k x 384: 1-2 ms, bound by reading the 17 MB matrix).
- Filters ("red", "for women", "under 1500") narrow the semantic ranking through an in-memory copy of the
  products' filterable fields (numpy columns, reloaded with the vectors and once a minute), not a query.
- The query's own embedding is the only model call on the request path (12-15 ms of CPU for a short text
  at one thread on the 2-core development machine); repeated queries hit a per-process LRU cache.
- Keyword and semantic rankings are merged by weighted reciprocal rank fusion (Cormack et al., 2009): it
  needs no score calibration between bm25/ts_rank and cosine similarity, and one ranker's outliers cannot
  swamp the other. Products that match every query word get a third vote, so exact matches lead while
  the embedding orders them and fills in for words the catalog does not use.
- Popularity (views, sales) and conversion (sales per view) add a small, saturating boost on top, enough to
  order near-ties, never enough to lift an irrelevant product over a relevant one."""
from __future__ import annotations

import functools
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from django.db import connection

from catalog.models import Product
from catalog.selectors import ProductFilters
from catalog.search.models import EMBEDDING_DIM, ProductEmbedding

# RRF's k: 60 is the value the original paper found robust across collections.
RRF_K = 60
KEYWORD_WEIGHT = 1.0
SEMANTIC_WEIGHT = 1.0
# Matching every word the shopper typed is a vote of its own (the complete keyword matches are fused as a
# third ranking): "white kurta set" should put kurta sets before the plain kurtas an embedding finds close.
COMPLETE_MATCH_WEIGHT = 1.0
# The most a product's popularity and conversion can add; a first-place RRF score is about 1/61 per ranker.
POPULARITY_WEIGHT = 0.004
CONVERSION_WEIGHT = 0.004
# A semantic match must be at least this similar (MiniLM puts a query and an unrelated product around
# 0.05-0.15) and at least this fraction as similar as the query's best match. No fixed bar fits every query:
# a rare word ("rucksack") reaches 0.3 with its best products, where "kurta" reaches 0.7.
MIN_SIMILARITY = 0.15
RELATIVE_SIMILARITY = 0.5
QUERY_CACHE_SIZE = 2048


class Embedder(Protocol):
    """What search needs from a sentence embedder: a version name, normalised vectors for texts, and the
    words it knows whole (which spelling correction leaves alone)."""

    version: str

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...

    def words(self) -> frozenset[str]: ...


class MiniLMEmbedder:
    """llm_core's all-MiniLM-L6-v2 embedder: loaded on first use, shared by the process, disk-cached."""

    @property
    def version(self) -> str:
        # Imported here: torch loads only in processes that actually search or index.
        from llm_core.embeddings import MODEL_NAME

        return MODEL_NAME

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        from llm_core.embeddings import embed

        return np.asarray(embed(list(texts)), dtype=np.float32)

    @functools.cache
    def words(self) -> frozenset[str]:
        """The whole words of the model's WordPiece vocabulary (about 22k English words)."""
        from llm_core.embeddings import model_path

        with open(model_path() / "vocab.txt", encoding="utf-8") as handle:
            return frozenset(w for w in (line.strip() for line in handle) if w.isalpha() and len(w) > 1)


_embedder: Embedder = MiniLMEmbedder()


def get_embedder() -> Embedder:
    return _embedder


def set_embedder(embedder: Embedder) -> Embedder:
    """Swap the process's embedder (tests use a small deterministic one); returns the previous one."""
    global _embedder
    previous, _embedder = _embedder, embedder
    clear_caches()
    return previous


# ------------------------------------------------------------------------------------ product vectors


@dataclass(frozen=True)
class SemanticIndex:
    generation: int
    model_version: str
    ids: np.ndarray  # (n,) int64 product ids
    matrix: np.ndarray  # (n, EMBEDDING_DIM) float32, rows L2-normalised

    def nearest(self, vector: np.ndarray, *, limit: int, among: np.ndarray | None = None) -> list[tuple[int, float]]:
        """The `limit` most similar products above the similarity floors, as (id, cosine) best first; with
        `among` (product ids), only those. Filtering before the cut keeps a narrow filter's best matches,
        which a cut over the whole catalog would often have dropped."""
        rows = np.arange(len(self.ids)) if among is None else self._rows(among)
        if not len(rows) or limit <= 0:
            return []
        # Each matrix-vector product reads its matrix from memory (17 MB for 11.5k products): for a few rows,
        # copy them out first; for many, multiplying the whole matrix and picking the rows costs less.
        if len(rows) * 4 < len(self.ids):
            scores = self.matrix[rows] @ vector  # (len(rows),)
        else:
            scores = (self.matrix @ vector)[rows]
        k = min(limit, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        floor = max(MIN_SIMILARITY, RELATIVE_SIMILARITY * float(scores[top[0]]))
        top = top[scores[top] >= floor]
        return list(zip(self.ids[rows[top]].tolist(), scores[top].tolist()))

    def _rows(self, ids: np.ndarray) -> np.ndarray:
        # The matrix rows of `ids` that have a vector; self.ids is sorted, so a binary search finds them.
        positions = np.searchsorted(self.ids, ids)
        found = positions < len(self.ids)
        found[found] = self.ids[positions[found]] == ids[found]
        return positions[found]


_index: SemanticIndex | None = None
_index_lock = threading.Lock()


def semantic_index(*, generation: int) -> SemanticIndex:
    """The product vectors of the current embedding model, as of index `generation`: loaded once per
    process (one query) and reloaded when the indexer has moved the generation on."""
    global _index
    version = get_embedder().version
    current = _index
    if current is not None and current.generation == generation and current.model_version == version:
        return current
    with _index_lock:
        if _index is None or _index.generation != generation or _index.model_version != version:
            _index = _load_index(generation, version)
            facets(generation=generation)  # read now too, so that a search's queries do not depend on its filters
        return _index


def _load_index(generation: int, version: str) -> SemanticIndex:
    embeddings = ProductEmbedding.objects.filter(model_version=version).order_by("product_id")
    rows = list(embeddings.values_list("product_id", "vector"))
    ids = np.fromiter((pk for pk, _ in rows), dtype=np.int64, count=len(rows))
    if rows:
        data = b"".join(bytes(vector) for _, vector in rows)
        matrix = np.frombuffer(data, dtype="<f4").reshape(len(rows), EMBEDDING_DIM)
    else:
        matrix = np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
    return SemanticIndex(generation, version, ids, np.ascontiguousarray(matrix, dtype=np.float32))


# ------------------------------------------------------------------------------------ filter facets

# How stale the in-memory copy of the products' filterable fields may get. The copy only chooses which
# products the semantic ranker looks among; every candidate is then checked against the real filters in the
# database. So staleness can at worst leave out of the semantic ranking, for this long, a product that has
# just come to pass the filters (a price cut, a reactivation); it never shows a product that fails them.
FACETS_MAX_AGE = 60.0


@dataclass(frozen=True)
class Facets:
    """The filterable fields of every product as numpy columns, to tell which products pass the brand,
    colour, audience, price and category filters in memory (well under a millisecond) rather than by a scan
    of the product table (5-10 ms for 11.5k products, and a round trip). Sizes depend on the variants'
    stock and are not here."""

    generation: int
    loaded_at: float
    ids: np.ndarray  # (n,) int64, sorted
    active: np.ndarray  # (n,) bool
    price: np.ndarray  # (n,) float64
    category: np.ndarray  # (n,) int64
    brand: np.ndarray  # (n,) int64 codes into `codes`
    colour: np.ndarray  # (n,) int64 codes
    audience: np.ndarray  # (n,) int64 codes
    codes: dict[str, int]  # lower-cased value -> code, shared by brand, colour and audience

    def ids_passing(self, filters: ProductFilters, *, category_ids: Sequence[int] | None = None) -> np.ndarray:
        """The sorted ids of the active products that pass `filters` (sizes aside) and, with `category_ids`,
        are in one of those categories. Brand and colour compare case-insensitively, as the catalog does."""
        keep = self.active.copy()
        for column, values in ((self.brand, filters.brands), (self.colour, filters.colours),
                               (self.audience, filters.audiences)):
            if values:
                keep &= np.isin(column, [self.codes.get(value.lower(), -1) for value in values])
        if filters.min_price is not None:
            keep &= self.price >= float(filters.min_price)
        if filters.max_price is not None:
            keep &= self.price <= float(filters.max_price)
        if category_ids is not None:
            keep &= np.isin(self.category, np.asarray(category_ids, dtype=np.int64))
        return self.ids[keep]


_facets: Facets | None = None
_facets_lock = threading.Lock()


def facets(*, generation: int) -> Facets:
    """The products' filterable fields: read once per process per index generation (one query, loaded
    along with the vectors), and again when older than FACETS_MAX_AGE."""
    global _facets
    current = _facets
    if current is not None and current.generation == generation and not _expired(current):
        return current
    with _facets_lock:
        if _facets is None or _facets.generation != generation or _expired(_facets):
            _facets = _load_facets(generation)
        return _facets


def _expired(loaded: Facets) -> bool:
    return time.monotonic() - loaded.loaded_at > FACETS_MAX_AGE


def _load_facets(generation: int) -> Facets:
    fields = ("pk", "is_active", "price", "category_id", "brand", "colour", "audience")
    sql, params = Product.objects.order_by("pk").values_list(*fields).query.sql_with_params()
    # A plain cursor: the ORM's per-row work (a Decimal for every price) would double the cost.
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    codes: dict[str, int] = {}

    def coded(position: int) -> np.ndarray:
        values = (codes.setdefault((row[position] or "").lower(), len(codes)) for row in rows)
        return np.fromiter(values, dtype=np.int64, count=len(rows))

    return Facets(
        generation=generation,
        loaded_at=time.monotonic(),
        ids=np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows)),
        active=np.fromiter((bool(row[1]) for row in rows), dtype=bool, count=len(rows)),
        price=np.fromiter((float(row[2]) for row in rows), dtype=np.float64, count=len(rows)),
        category=np.fromiter((row[3] or 0 for row in rows), dtype=np.int64, count=len(rows)),
        brand=coded(4),
        colour=coded(5),
        audience=coded(6),
        codes=codes,
    )


# ------------------------------------------------------------------------------------ query vectors

_query_cache: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
_query_lock = threading.Lock()


def query_vector(text: str) -> np.ndarray:
    """The normalised embedding of a query text; computed once per process per distinct text."""
    embedder = get_embedder()
    key = (embedder.version, text)
    with _query_lock:
        cached = _query_cache.get(key)
        if cached is not None:
            _query_cache.move_to_end(key)
            return cached
    vector = embedder.embed([text])[0].astype(np.float32)
    with _query_lock:
        _query_cache[key] = vector
        while len(_query_cache) > QUERY_CACHE_SIZE:
            _query_cache.popitem(last=False)
    return vector


def clear_caches(*, product_vectors: bool = True) -> None:
    """Forget the query embeddings and, with `product_vectors`, the loaded product vectors and facets (after
    swapping the embedder; the benchmark forgets query embeddings alone, to time cold queries)."""
    global _index, _facets
    if product_vectors:
        with _index_lock:
            _index = None
        with _facets_lock:
            _facets = None
    with _query_lock:
        _query_cache.clear()


# ------------------------------------------------------------------------------------------- fusion


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[int]], weights: Sequence[float], *, k: int = RRF_K
) -> dict[int, float]:
    """Σ weight / (k + rank) over the rankings each id appears in (rank counted from 1)."""
    fused: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, pk in enumerate(ranking, start=1):
            fused[pk] = fused.get(pk, 0.0) + weight / (k + rank)
    return fused


def popularity_boost(*, views: int, sales: int) -> float:
    """A bonus in [0, POPULARITY_WEIGHT + CONVERSION_WEIGHT) from how often a product is viewed and bought
    and how often a view turns into a sale. Both parts saturate, so a best seller cannot run away with a
    query, and the conversion rate is smoothed, so one sale from one view does not look like 100%."""
    activity = math.log1p(3 * sales + views)
    conversion = (sales + 0.1) / (views + 10)
    return POPULARITY_WEIGHT * activity / (activity + 4) + CONVERSION_WEIGHT * min(conversion, 1.0)
