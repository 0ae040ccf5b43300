"""Search reads: the results page (hybrid keyword + semantic ranking over a parsed query, with chips and
zero-result suggestions) and autocomplete.

A search runs a fixed number of queries whatever the page size: the index generation, the full-text
match (one statement on PostgreSQL, two or three on SQLite), one read of the candidates' popularity (which
also applies the filters exactly), two for the page's products; plus the ids passing a size filter, and,
only when nothing was found, one count per chip and the popular products. The vectors, the products'
filterable fields and the vocabulary are read once per process per index generation (the fields also
once a minute)."""
from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
from django.core.paginator import Page, Paginator
from django.db import connection
from django.db.models import QuerySet

from catalog.models import Category, Product
from catalog.selectors import (
    SORT_CHOICES,
    ProductFilters,
    category_tree,
    popular_products,
    product_ids,
    products_by_ids,
)
from catalog.search import ranking
from catalog.search.backends import keyword_backend
from catalog.search.models import IndexState, SearchTerm
from catalog.search.query_parser import Chip, ParsedQuery, parse_query
from catalog.search.text import query_tokens
from catalog.search.typos import Vocabulary, singular

logger = logging.getLogger(__name__)

Mode = Literal["hybrid", "keyword", "semantic"]
MODES: tuple[Mode, ...] = ("hybrid", "keyword", "semantic")
SORTS = tuple(value for value, _ in SORT_CHOICES)
# How deep each ranker looks. Fused results beyond these are too weak to page through.
KEYWORD_CANDIDATES = 300
SEMANTIC_CANDIDATES = 600
MAX_RESULTS = 1000
POPULAR_SUGGESTIONS = 8


# ------------------------------------------------------------------------------------------ state


def index_generation() -> int:
    """The search index's current generation (0 before anything was indexed): one primary-key read."""
    return IndexState.objects.filter(pk=1).values_list("generation", flat=True).first() or 0


_vocabulary: tuple[int, Vocabulary] | None = None
_vocabulary_lock = threading.Lock()


def vocabulary(*, generation: int) -> Vocabulary:
    """The search vocabulary as of `generation`, loaded once per process per generation."""
    global _vocabulary
    current = _vocabulary
    if current is not None and current[0] == generation:
        return current[1]
    with _vocabulary_lock:
        if _vocabulary is None or _vocabulary[0] != generation:
            _vocabulary = (generation, _load_vocabulary())
        return _vocabulary[1]


def _load_vocabulary() -> Vocabulary:
    words: dict[str, int] = {}
    brands: dict[str, tuple[str, ...]] = {}
    colours: set[str] = set()
    for kind, term, value, frequency, ambiguous in SearchTerm.objects.values_list(
        "kind", "term", "value", "frequency", "ambiguous"
    ).iterator(chunk_size=5000):
        if kind == SearchTerm.Kind.WORD:
            words[term] = frequency
        elif kind == SearchTerm.Kind.COLOUR:
            colours.add(term)
        elif kind == SearchTerm.Kind.BRAND and not ambiguous:
            brands[term] = (*brands.get(term, ()), value)
    return Vocabulary(words=words, brands=brands, colours=frozenset(colours), language=_language_words())


def _language_words() -> frozenset[str]:
    try:
        return ranking.get_embedder().words()
    except OSError:  # the model package is missing: correct against the catalog alone
        logger.warning("the embedding model's vocabulary is unavailable; spelling correction uses the catalog only")
        return frozenset()


# ----------------------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Relaxation:
    """A zero-result suggestion: drop `chip` and `count` products match."""

    chip: Chip
    count: int


@dataclass
class SearchResults:
    query: str
    parsed: ParsedQuery
    filters: ProductFilters  # what was applied: the query's filters, overridden by explicit ones
    page: Page
    products: list[Product]
    total: int
    chips: list[Chip]
    mode: Mode
    sort: str
    relaxations: list[Relaxation] = field(default_factory=list)
    popular: list[Product] = field(default_factory=list)  # for an empty query or no results
    popular_category: Category | None = None

    @property
    def corrected_query(self) -> str:
        return self.parsed.corrected_query


@dataclass(frozen=True)
class _Candidate:
    views: int
    sales: int
    sort_key: object = None  # the value the asked-for sort orders by, when it is not relevance


def search_products(
    *,
    query: str,
    filters: ProductFilters | None = None,
    category: Category | None = None,
    page: int | str = 1,
    page_size: int = 24,
    sort: str = "relevance",
    mode: Mode = "hybrid",
    correct_spelling: bool = True,
) -> SearchResults:
    """Search active products with plain words.

    The query is parsed into text and filters (price, audience, colour, size, brand: see query_parser);
    `filters` and `category` given explicitly (from facets or the API) take precedence over what the words
    say, dimension by dimension. Products are ranked by `mode`: keyword (bm25 / ts_rank), semantic (MiniLM
    cosine) or hybrid (reciprocal rank fusion of both, plus a small popularity and conversion boost), or by
    `sort` when it is not "relevance". With `correct_spelling`, unknown words are replaced by their nearest
    catalog word (the results say so, `corrected_query`). Zero results come with suggestions: filters to
    drop (with their counts) and popular products of the category the query was about. An empty query
    gives no results and the shop's popular products. Never raises for any query string."""
    explicit = filters or ProductFilters()
    sort = sort if sort in SORTS else "relevance"
    generation = index_generation()
    parsed = parse_query(query, vocabulary(generation=generation), correct=correct_spelling)
    effective = _merge_filters(parsed, explicit)
    chips = [c for c in parsed.chips if not _overridden(c.key, explicit)]
    if parsed.is_empty and not effective.narrowed and category is None:
        popular = popular_products(limit=POPULAR_SUGGESTIONS)
        return _results(query, parsed, effective, [], page, page_size, chips, mode, sort, popular=popular)
    allowed = product_ids(filters=effective, category=category).order_by()
    ranked = _ranked(parsed, allowed, effective, category, generation=generation, mode=mode, sort=sort)
    results = _results(query, parsed, effective, ranked, page, page_size, chips, mode, sort)
    if not ranked:
        results.relaxations = _relaxations(parsed, chips, effective, category, generation=generation)
        results.popular_category = _query_category(parsed, generation=generation) or category
        results.popular = popular_products(limit=POPULAR_SUGGESTIONS, category=results.popular_category)
    return results


def _overridden(key: str, explicit: ProductFilters) -> bool:
    return {
        "colour": bool(explicit.colours),
        "audience": bool(explicit.audiences),
        "brand": bool(explicit.brands),
        "size": bool(explicit.sizes),
        "price": explicit.min_price is not None or explicit.max_price is not None,
    }[key]


def _merge_filters(parsed: ParsedQuery, explicit: ProductFilters) -> ProductFilters:
    price_given = explicit.min_price is not None or explicit.max_price is not None
    return ProductFilters(
        brands=explicit.brands or parsed.brands,
        colours=explicit.colours or parsed.colours,
        sizes=explicit.sizes or parsed.sizes,
        audiences=explicit.audiences or parsed.audiences,
        min_price=explicit.min_price if price_given else parsed.min_price,
        max_price=explicit.max_price if price_given else parsed.max_price,
    )


def _within(products: QuerySet) -> tuple[str, Sequence[object]]:
    """The SQL (and parameters) selecting the ids of `products`, for the keyword backends to filter by."""
    sql, params = products.order_by().values("pk").query.sql_with_params()
    return sql, params


def _active_ids() -> QuerySet:
    return Product.objects.filter(is_active=True).values_list("pk", flat=True)


def _ranked(
    parsed: ParsedQuery,
    allowed: QuerySet,
    effective: ProductFilters,
    category: Category | None,
    *,
    generation: int,
    mode: Mode,
    sort: str,
) -> list[int]:
    """Product ids in result order, at most MAX_RESULTS. `allowed`: the ids passing the filters."""
    if not parsed.text:
        # Filters only ("under 500", "for men"): the catalog's own order (best sellers first by default).
        catalog_sort = "popular" if sort == "relevance" else sort
        ordered = product_ids(filters=replace(effective, sort=catalog_sort), category=category)
        return list(ordered[:MAX_RESULTS])

    hits = []
    if mode != "semantic":
        hits = keyword_backend().ranked(parsed.terms, within=_within(allowed), limit=KEYWORD_CANDIDATES)
    semantic_hits = []
    if mode != "keyword" and parsed.understood:
        # The ids passing the filters (only when something filters), so that semantic ranking looks for the
        # best matches among them rather than among everything.
        narrowed = effective.narrowed or category is not None
        among = _among(allowed, effective, category, generation=generation) if narrowed else None
        semantic_hits = _semantic(parsed.text, generation=generation, among=among)
    wanted = list(dict.fromkeys([*(hit.pk for hit in hits), *(pk for pk, _ in semantic_hits)]))
    candidates = _candidates(allowed, wanted, sort)
    keyword = [hit.pk for hit in hits if hit.pk in candidates]
    complete = [hit.pk for hit in hits if hit.complete and hit.pk in candidates]
    semantic = [pk for pk, _ in semantic_hits if pk in candidates]
    fused = ranking.reciprocal_rank_fusion(
        [keyword, semantic, complete], [ranking.KEYWORD_WEIGHT, ranking.SEMANTIC_WEIGHT, ranking.COMPLETE_MATCH_WEIGHT]
    )
    if mode == "hybrid":
        for pk in fused:
            fused[pk] += ranking.popularity_boost(views=candidates[pk].views, sales=candidates[pk].sales)
    relevance = sorted(fused, key=lambda pk: (-fused[pk], pk))[:MAX_RESULTS]
    return _sorted(relevance, candidates, sort)


# Read only for the sort that needs it: converting thousands of timestamps costs more than the search.
_SORT_FIELDS = {"newest": "created_at", "price_asc": "price", "price_desc": "price"}


def _candidates(allowed: QuerySet, wanted: list[int], sort: str) -> dict[int, _Candidate]:
    """One read for all the candidates: which of them pass the filters exactly (whatever the in-memory
    facets said; a product changed since the keyword match drops out here too), and their popularity. The
    filters apply to the candidate rows directly, not through an "IN (subquery)", which SQLite does fast.
    A plain cursor: the ORM's preparation of hundreds of ids, one by one, cost more than the query."""
    if not wanted:
        return {}
    sort_field = _SORT_FIELDS.get(sort)
    fields = ("id", "view_count", "sales_count", *([sort_field] if sort_field else []))
    sql, params = allowed.values_list(*fields).query.sql_with_params()
    if connection.vendor == "postgresql":
        among, ids = "c.id = ANY(%s)", [wanted]
    else:
        among, ids = f"c.id IN ({', '.join(['%s'] * len(wanted))})", wanted
    with connection.cursor() as cursor:
        # Both engines flatten the derived table: the ids are looked up by primary key, then filtered.
        cursor.execute(f"SELECT * FROM ({sql}) c WHERE {among}", [*params, *ids])
        return {row[0]: _Candidate(*row[1:]) for row in cursor.fetchall()}


def _sorted(relevance: list[int], candidates: dict[int, _Candidate], sort: str) -> list[int]:
    if sort == "popular":
        return sorted(relevance, key=lambda pk: (-candidates[pk].sales, -candidates[pk].views, pk))
    if sort == "newest":
        return sorted(relevance, key=lambda pk: (candidates[pk].sort_key, pk), reverse=True)
    if sort in ("price_asc", "price_desc"):
        return sorted(relevance, key=lambda pk: (candidates[pk].sort_key, pk), reverse=sort == "price_desc")
    return relevance


def _among(allowed: QuerySet, effective: ProductFilters, category: Category | None, *, generation: int) -> np.ndarray:
    """The ids that semantic ranking should look among: from the in-memory facets (no query), or for a size
    filter, which depends on the variants' stock, from the database (one query)."""
    if effective.sizes:
        return _ids(allowed)
    category_ids = category_tree().descendant_ids(category.pk) if category is not None else None
    return ranking.facets(generation=generation).ids_passing(effective, category_ids=category_ids)


def _ids(products: QuerySet) -> np.ndarray:
    """The ids of `products`, sorted, read with a plain cursor: for the thousands of ids a broad filter
    ("for women") passes, the ORM's per-row work would cost more than the query."""
    sql, params = _within(products)
    with connection.cursor() as cursor:
        cursor.execute(f"{sql} ORDER BY 1", params)
        return np.fromiter((row[0] for row in cursor.fetchall()), dtype=np.int64)


def _semantic(
    text: str, *, generation: int, limit: int = SEMANTIC_CANDIDATES, among: np.ndarray | None = None
) -> list[tuple[int, float]]:
    if not text:
        return []
    index = ranking.semantic_index(generation=generation)
    if not len(index.ids):
        return []  # nothing embedded yet: keyword search alone, and no model call on the request path
    try:
        vector = ranking.query_vector(text)
    except Exception:  # the model failed to load or run: degrade to keyword results, never a 500
        logger.exception("query embedding failed; falling back to keyword search")
        return []
    return index.nearest(vector, limit=limit, among=among)


def _results(
    query: str,
    parsed: ParsedQuery,
    effective: ProductFilters,
    ranked: list[int],
    page: int | str,
    page_size: int,
    chips: list[Chip],
    mode: Mode,
    sort: str,
    *,
    popular: list[Product] | None = None,
) -> SearchResults:
    page_obj = Paginator(ranked, page_size).get_page(page)
    return SearchResults(
        query=query,
        parsed=parsed,
        filters=effective,
        page=page_obj,
        products=products_by_ids(ids=page_obj.object_list) if ranked else [],
        total=len(ranked),
        chips=chips,
        mode=mode,
        sort=sort,
        popular=popular or [],
    )


# ------------------------------------------------------------------------------------ suggestions


_CHIP_FIELDS = {
    "colour": {"colours": ()},
    "audience": {"audiences": ()},
    "brand": {"brands": ()},
    "size": {"sizes": ()},
    "price": {"min_price": None, "max_price": None},
}


def _relaxations(
    parsed: ParsedQuery, chips: list[Chip], effective: ProductFilters, category: Category | None, *, generation: int
) -> list[Relaxation]:
    """For each chip, how many products the query finds without it (one count per chip; zero-result
    pages only). When dropping any one is not enough, how many it finds without them all."""
    if not chips:
        return []
    has_words = bool(parsed.text)
    matching: set[int] = set()
    if has_words:
        within = _within(product_ids(filters=ProductFilters(), category=category))
        hits = keyword_backend().ranked(parsed.terms, within=within, limit=KEYWORD_CANDIDATES)
        matching.update(hit.pk for hit in hits)
        if parsed.understood:
            matching.update(pk for pk, _ in _semantic(parsed.text, generation=generation))
    relaxations = []
    for chip in chips:
        relaxed = product_ids(filters=replace(effective, **_CHIP_FIELDS[chip.key]), category=category).order_by()
        count = (relaxed.filter(pk__in=matching) if has_words else relaxed).count()
        if count:
            relaxations.append(Relaxation(chip=chip, count=count))
    if not relaxations and len(chips) > 1 and has_words:
        unfiltered = product_ids(filters=ProductFilters(), category=category).order_by()
        count = unfiltered.filter(pk__in=matching).count()
        if count:
            relaxations.append(Relaxation(chip=Chip("all", "all filters", parsed.text), count=count))
    return sorted(relaxations, key=lambda r: -r.count)


def _query_category(parsed: ParsedQuery, *, generation: int) -> Category | None:
    """The category the query is about, whatever the filters: that of its best match."""
    best = _semantic(parsed.text, generation=generation, limit=1) if parsed.understood else []
    if not best and parsed.terms:
        hits = keyword_backend().ranked(parsed.terms, within=_within(_active_ids()), limit=1)
        best = [(hit.pk, hit.score) for hit in hits]
    if not best:
        return None
    product = Product.objects.select_related("category").filter(pk=best[0][0]).first()
    return product.category if product else None


# ------------------------------------------------------------------------------------- autocomplete


@dataclass(frozen=True)
class Suggestion:
    kind: Literal["query", "brand", "product"]
    label: str
    query: str = ""  # what the search box should run, for "query" and "brand"
    url: str = ""  # where to go, for "product"


def autocomplete(*, prefix: str, limit: int = 8) -> list[Suggestion]:
    """Suggestions while the shopper types: brands whose name starts with what was typed, completions of
    the last word from the catalog's vocabulary (most frequent first, one per singular/plural pair), then
    the best-matching products, which get at least half of the `limit` slots. Nothing under two characters.
    Three queries at most (generation, keyword match, the products)."""
    text = " ".join(prefix.split())[:100]
    tokens = query_tokens(text)
    if len(text) < 2 or not tokens:
        return []
    vocab = vocabulary(generation=index_generation())
    finished = prefix[-1:].isspace()  # "red " asks what follows "red", not words starting with "red"
    head = [t.norm for t in (tokens if finished else tokens[:-1])]
    partial = "" if finished else tokens[-1].norm
    typed_head = text if finished else text[: tokens[-1].start].rstrip()

    typed = " ".join(t.norm for t in tokens)
    brand_keys = sorted((k for k in vocab.brands if k.startswith(typed)), key=lambda k: (len(k), k))
    brands = list(dict.fromkeys(vocab.brands[k][0] for k in brand_keys))[:2]
    suggestions = [Suggestion("brand", name, query=name) for name in brands]
    seen = {singular(b.lower()) for b in brands}
    for word in vocab.complete(partial, limit=6):
        completion = f"{typed_head} {word}".strip()
        if singular(completion.lower()) not in seen and len(suggestions) < limit // 2:
            seen.add(singular(completion.lower()))
            suggestions.append(Suggestion("query", completion, query=completion))

    within = _within(_active_ids())
    slots = limit - len(suggestions)
    if partial:
        ids = keyword_backend().complete(head, partial, within=within, limit=slots)
    else:
        ids = [hit.pk for hit in keyword_backend().ranked(head, within=within, limit=slots)]
    suggestions += [Suggestion("product", p.title, url=p.get_absolute_url()) for p in products_by_ids(ids=ids)]
    return suggestions
