"""Recommendation strategies: a small base class and the chain each storefront block walks.

A block asks its strategies in order for candidates until it has enough (after exclusions and the brand cap,
which recommender.selectors applies); a strategy that fails is logged and skipped. Every chain ends in a
strategy that needs nothing but the catalog (popular in the category, popular overall), so a block fills
whatever else fails. The chains are chosen in settings:

    RECOMMENDER_CHAINS = {"home": ["recommender.strategies.StoredStrategy", ...], ...}

Every strategy reads through the catalog's selectors or this app's own tables, never the shop's.
"""
import logging
import threading
import time
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from django.core.cache import cache
from django.utils.module_loading import import_string

from catalog import selectors as catalog_selectors
from catalog.models import Product, ShopperEvent
from catalog.search import selectors as search_selectors
from recommender.cooccurrence import CooccurrenceIndex
from recommender.models import ShopperRecommendations, SimilarProducts
from recommender.serving import active_model

logger = logging.getLogger(__name__)

EVENT_KINDS = (ShopperEvent.Kind.VIEW, ShopperEvent.Kind.ADD_TO_CART, ShopperEvent.Kind.PURCHASE)
RECENT_SEARCHES = 3  # how many of a shopper's latest distinct searches the "searched" strategy follows
COOCCURRENCE_SECONDS = 15 * 60
STORED_CACHE_SECONDS = 6 * 60 * 60  # the beat refresh runs every 6 hours and rewrites the cache


@dataclass(frozen=True)
class ShopperContext:
    """Everything a strategy may use about the shopper and the page."""

    user_id: int | None = None
    history: tuple[int, ...] = ()  # product ids viewed, carted or bought, oldest first
    purchased: frozenset[int] = frozenset()
    anchor: int | None = None  # the product whose page this is
    cart: tuple[int, ...] = ()  # product ids in the cart
    focus_category_id: int | None = None  # the anchor's category; without one, the latest seed's is looked up
    searches: tuple[str, ...] = ()  # the shopper's latest distinct search queries, newest first

    @property
    def seeds(self) -> tuple[int, ...]:
        """What the page is about, most relevant last: history, then cart contents, then the anchor product."""
        extra = [pk for pk in (*self.cart, *([self.anchor] if self.anchor else [])) if pk]
        return (*[pk for pk in self.history if pk not in extra], *extra)


@dataclass(frozen=True)
class Candidate:
    product_id: int
    score: float
    source: str  # the strategy's name
    because: int | None = None  # the product that explains the pick
    reason: str = ""  # "viewed", "together", "category", "popular", "similar", "searched"
    product: Product | None = field(default=None, compare=False)  # when the strategy already loaded it
    query: str = ""  # for "searched": the search that explains the pick


class RecommendationStrategy:
    """Produce up to `limit` candidates, best first. Filtering (stock, purchases, brand cap) happens after."""

    name = "base"

    def candidates(self, context: ShopperContext, limit: int) -> list[Candidate]:
        raise NotImplementedError


class StoredStrategy(RecommendationStrategy):
    """The signed-in shopper's top 50 from the last batch refresh: one query, or a cache hit."""

    name = "stored"

    def candidates(self, context: ShopperContext, limit: int) -> list[Candidate]:
        if context.user_id is None:
            return []
        items = stored_items(context.user_id)
        return [
            Candidate(row["product"], float(row.get("score", 0.0)), self.name, row.get("because"), "viewed")
            for row in items
        ]


def stored_cache_key(user_id: int) -> str:
    return f"recommender:stored:{user_id}"


def stored_items(user_id: int) -> list[dict]:
    key = stored_cache_key(user_id)
    items = cache.get(key)
    if items is None:
        row = ShopperRecommendations.objects.filter(user_id=user_id).values_list("items", flat=True).first()
        items = row or []
        cache.set(key, items, STORED_CACHE_SECONDS)
    return items


class SequenceModelStrategy(RecommendationStrategy):
    """Real-time inference of the active model over the shopper's recent items (and cart, and the anchor)."""

    name = "model"

    def candidates(self, context: ShopperContext, limit: int) -> list[Candidate]:
        serving = active_model()
        if serving is None or not context.seeds:
            return []
        matrix = serving.histories_matrix([list(context.seeds)])
        if not matrix.any():
            return []
        scores = serving.scores(matrix)[0]
        picks = np.argsort(-scores, kind="stable")[:limit]
        picks = picks[np.isfinite(scores[picks])]
        because = serving.explain(matrix, picks[None, :])[0]
        return [
            Candidate(int(serving.product_ids[i]), float(scores[i]), self.name, int(b) if b > 0 else None, "viewed")
            for i, b in zip(picks, because)
        ]


class CooccurrenceStrategy(RecommendationStrategy):
    """Products most often viewed or bought near the page's seeds (the anchor and cart weigh most)."""

    name = "cooccurrence"

    def candidates(self, context: ShopperContext, limit: int) -> list[Candidate]:
        if not context.seeds:
            return []
        index, product_ids = event_cooccurrence()
        index_of = {int(pk): i for i, pk in enumerate(product_ids) if i}
        matrix = np.array([[index_of.get(pk, 0) for pk in context.seeds]], dtype=np.int64)
        if not matrix.any():
            return []
        scores = index.all_scores(matrix)[0].numpy()
        picks = np.array([i for i in np.argsort(-scores, kind="stable")[:limit] if scores[i] > 0], dtype=np.int64)
        if not len(picks):
            return []
        latest, _ = index.votes(matrix)
        # The reason is the seed each pick was seen with most.
        strongest = latest[0][index.pair_weights(latest[0][:, None], picks[None, :]).argmax(axis=0)]
        together = {context.anchor, *context.cart}
        result = []
        for item, seed in zip(picks, strongest):
            because = int(product_ids[seed]) if seed > 0 else None
            reason = "together" if because in together else "viewed"
            result.append(Candidate(int(product_ids[item]), float(scores[item]), self.name, because, reason))
        return result


def _build_event_cooccurrence() -> tuple[CooccurrenceIndex, np.ndarray]:
    from recommender.selectors import event_sequences  # selectors import this module

    sequences = [items for _, items in event_sequences()]
    product_ids = np.array([-1] + sorted({pk for items in sequences for pk in items}), dtype=np.int64)
    index_of = {int(pk): i for i, pk in enumerate(product_ids) if i}
    flat = np.array([index_of[pk] for items in sequences for pk in items], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum([len(items) for items in sequences])]).astype(np.int64)
    return CooccurrenceIndex.from_sequences(flat, offsets, len(product_ids) - 1), product_ids


class _Expiring:
    """A value computed at most once per `seconds` per process. Kept in process memory rather than the
    shared cache: a request would otherwise fetch and unpickle the whole index every time."""

    def __init__(self, compute, seconds: float):
        self._compute, self._seconds = compute, seconds
        self._lock = threading.Lock()
        self._value, self._expires = None, -float("inf")

    def get(self):
        with self._lock:
            if time.monotonic() >= self._expires:
                self._value = self._compute()
                self._expires = time.monotonic() + self._seconds
            return self._value

    def reset(self) -> None:
        with self._lock:
            self._value, self._expires = None, -float("inf")


_event_cooccurrence = _Expiring(_build_event_cooccurrence, COOCCURRENCE_SECONDS)


def event_cooccurrence() -> tuple[CooccurrenceIndex, np.ndarray]:
    """Co-occurrence over every shopper's (or guest session's) event journey, rebuilt at most every quarter of
    an hour per process. Returns the index and the product id of each of its item indices (0 = padding)."""
    return _event_cooccurrence.get()


def reset_event_cooccurrence() -> None:
    """Rebuild on next use (the batch refresh starts from fresh events; tests start from their own)."""
    _event_cooccurrence.reset()


class RecentSearchStrategy(RecommendationStrategy):
    """The best matches of the shopper's latest searches (newest first): what a shopper looked for says what
    they want before they have opened any product. One search per query reached."""

    name = "searched"

    def candidates(self, context: ShopperContext, limit: int) -> list[Candidate]:
        picks: list[Candidate] = []
        for query in context.searches:
            for product in search_selectors.search_products(query=query, page_size=limit).products:
                rank = len(picks)  # the newest search's matches first, each search's in its own order
                picks.append(Candidate(product.pk, float(-rank), self.name, None, "searched", product, query))
            if len(picks) >= limit:
                break
        return picks


class CategoryPopularStrategy(RecommendationStrategy):
    """Best sellers in the category the shopper is looking at."""

    name = "category"

    def candidates(self, context: ShopperContext, limit: int) -> list[Candidate]:
        category_id = context.focus_category_id
        if category_id is None and context.seeds:
            # The latest thing the shopper looked at decides: one lookup, only when this strategy is reached.
            latest = catalog_selectors.products_by_ids(ids=[context.seeds[-1]], active_only=False)
            category_id = latest[0].category_id if latest else None
        node = catalog_selectors.category_tree().by_id.get(category_id) if category_id is not None else None
        if node is None:
            return []
        products = catalog_selectors.popular_products(limit=limit, category=node.category)
        return [Candidate(p.pk, float(-rank), self.name, None, "category", p) for rank, p in enumerate(products)]


class PopularStrategy(RecommendationStrategy):
    """Best sellers overall: needs nothing but the catalog, so every chain ends here."""

    name = "popular"

    def candidates(self, context: ShopperContext, limit: int) -> list[Candidate]:
        products = catalog_selectors.popular_products(limit=limit)
        return [Candidate(p.pk, float(-rank), self.name, None, "popular", p) for rank, p in enumerate(products)]


class SimilarTextStrategy(RecommendationStrategy):
    """The anchor product's nearest neighbours by text embedding, precomputed by the similar-items refresh."""

    name = "similar"

    def candidates(self, context: ShopperContext, limit: int) -> list[Candidate]:
        if context.anchor is None:
            return []
        items = SimilarProducts.objects.filter(product_id=context.anchor).values_list("items", flat=True).first()
        return [
            Candidate(row["product"], float(row["score"]), self.name, context.anchor, "similar")
            for row in (items or [])[:limit]
        ]


DEFAULT_CHAINS: dict[str, list[str]] = {
    "home": [
        "StoredStrategy", "SequenceModelStrategy", "CooccurrenceStrategy", "RecentSearchStrategy",
        "CategoryPopularStrategy", "PopularStrategy",
    ],
    "also_bought": ["CooccurrenceStrategy", "SequenceModelStrategy", "CategoryPopularStrategy", "PopularStrategy"],
    "similar": ["SimilarTextStrategy", "CategoryPopularStrategy"],
    "cart": ["SequenceModelStrategy", "CooccurrenceStrategy", "CategoryPopularStrategy", "PopularStrategy"],
}


def chain(block: str) -> list[RecommendationStrategy]:
    """The strategies of a block, from settings.RECOMMENDER_CHAINS (dotted paths) or the defaults here."""
    configured = getattr(settings, "RECOMMENDER_CHAINS", {}).get(block)
    paths = configured or [f"recommender.strategies.{name}" for name in DEFAULT_CHAINS[block]]
    return [import_string(path)() for path in paths]
