"""Recommendation reads: shopper histories from the catalog's events, the page context, and the storefront
blocks (strategy chain -> exclusions -> brand cap -> reasons).

Catalog and cart data come through catalog.selectors and shop.selectors only. Nothing here raises because of
a strategy: a failing one is logged and the next one answers (see recommender.strategies)."""
import logging
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.http import HttpRequest

from catalog import selectors as catalog_selectors
from catalog.models import Product, ShopperEvent
from recommender.strategies import EVENT_KINDS, RECENT_SEARCHES, Candidate, ShopperContext, chain
from shop import selectors as shop_selectors

logger = logging.getLogger(__name__)

HISTORY_LENGTH = 50  # the model's context; older events add nothing to a next-item prediction
MAX_LIMIT = 50
CONTEXT_BLOCKS = {"home": ("home",), "product": ("also_bought", "similar"), "cart": ("cart",)}
BLOCK_TITLES = {
    "home": "Recommended for you",
    "also_bought": "Customers also bought",
    "similar": "Similar items",
    "cart": "Complete your order",
}


# --------------------------------------------------------------------------------------------- catalog

_ID_CHUNK = 900  # under SQLite's oldest limit of 999 bound parameters per statement


def active_products() -> list[Product]:
    """Every active product, card-ready (category, stock_total), in id order: for the batch jobs."""
    ids = sorted(catalog_selectors.product_ids(filters=catalog_selectors.ProductFilters()))
    products: list[Product] = []
    for start in range(0, len(ids), _ID_CHUNK):
        products += catalog_selectors.products_by_ids(ids=ids[start : start + _ID_CHUNK])
    return products


# ------------------------------------------------------------------------------------------- histories


def _collapse_repeats(items: Iterable[int]) -> list[int]:
    """A view, then add-to-cart, then purchase of one product is one step of the journey, not three."""
    collapsed: list[int] = []
    for pk in items:
        if not collapsed or collapsed[-1] != pk:
            collapsed.append(pk)
    return collapsed


def event_sequences(*, since: datetime | None = None) -> list[tuple[str, list[int]]]:
    """Every shopper's product journey, oldest first: ("user:<id>" or "session:<key>", [product ids]).

    Signed-in shoppers are keyed by user, guests by session; consecutive repeats of a product collapse."""
    rows = (
        catalog_selectors.shopper_events(kinds=EVENT_KINDS, since=since)
        .filter(product__isnull=False)
        .values_list("user_id", "session_key", "product_id")
    )
    sequences: dict[str, list[int]] = {}
    for user_id, session_key, product_id in rows.iterator(chunk_size=5000):
        key = f"user:{user_id}" if user_id else (f"session:{session_key}" if session_key else "")
        if key:
            sequences.setdefault(key, []).append(product_id)
    return [(key, _collapse_repeats(items)) for key, items in sequences.items()]


def active_shopper_ids(*, since: datetime) -> list[int]:
    """Signed-in shoppers with a product event since `since`, in id order (the batch refresh's population)."""
    rows = (
        catalog_selectors.shopper_events(kinds=EVENT_KINDS, since=since)
        .filter(user__isnull=False, product__isnull=False)
        .order_by("user_id")
        .values_list("user_id", flat=True)
        .distinct()
    )
    return list(rows)


@dataclass(frozen=True)
class ShopperHistory:
    history: list[int]  # the latest HISTORY_LENGTH products, oldest first, repeats collapsed
    purchased: set[int]


def user_histories(*, user_ids: list[int]) -> dict[int, ShopperHistory]:
    """Histories and purchases of many shoppers in one query (the batch refresh reads a chunk at a time)."""
    rows = (
        catalog_selectors.shopper_events(kinds=EVENT_KINDS)
        .filter(user_id__in=user_ids, product__isnull=False)
        .values_list("user_id", "product_id", "kind")
    )
    items: dict[int, list[int]] = {pk: [] for pk in user_ids}
    purchased: dict[int, set[int]] = {pk: set() for pk in user_ids}
    for user_id, product_id, kind in rows.iterator(chunk_size=5000):
        items[user_id].append(product_id)
        if kind == ShopperEvent.Kind.PURCHASE:
            purchased[user_id].add(product_id)
    return {
        pk: ShopperHistory(_collapse_repeats(items[pk])[-HISTORY_LENGTH:], purchased[pk]) for pk in user_ids
    }


def _owner_filter(request: HttpRequest) -> dict | None:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return {"user_id": user.pk}
    session_key = request.session.session_key if hasattr(request, "session") else None
    return {"session_key": session_key} if session_key else None


def shopper_context(*, request: HttpRequest, anchor: Product | None = None, with_cart: bool = False) -> ShopperContext:
    """What the recommender knows about the request's shopper: two queries (recent events and searches,
    purchases), plus two for the cart when asked. A visitor without a session costs no query."""
    user = getattr(request, "user", None)
    user_id = user.pk if user is not None and user.is_authenticated else None
    history: list[int] = []
    searches: list[str] = []
    purchased: frozenset[int] = frozenset()
    owner = _owner_filter(request)
    if owner is not None:
        events = catalog_selectors.shopper_events(kinds=(*EVENT_KINDS, ShopperEvent.Kind.SEARCH), **owner)
        recent = list(
            events.order_by("-created_at", "-id").values_list("product_id", "query")[: HISTORY_LENGTH * 2]
        )
        history = _collapse_repeats(pk for pk, _ in reversed(recent) if pk)[-HISTORY_LENGTH:]
        searches = list(dict.fromkeys(query.lower() for pk, query in recent if not pk and query))[:RECENT_SEARCHES]
        purchased = frozenset(
            events.filter(kind=ShopperEvent.Kind.PURCHASE, product__isnull=False)
            .order_by()
            .values_list("product_id", flat=True)
            .distinct()
        )
    cart: tuple[int, ...] = ()
    if with_cart:
        summary = shop_selectors.cart_summary(cart=shop_selectors.cart_for_owner(owner=shop_selectors.owner_from_request(request)))
        cart = tuple(dict.fromkeys(line.item.variant.product_id for line in summary.lines))
    anchor_id = anchor.pk if anchor is not None else None
    return ShopperContext(
        user_id=user_id,
        history=tuple(history),
        purchased=purchased,
        anchor=anchor_id,
        cart=cart,
        focus_category_id=anchor.category_id if anchor is not None else None,
        searches=tuple(searches),
    )


# ---------------------------------------------------------------------------------------------- blocks


@dataclass(frozen=True)
class RecommendedProduct:
    product: Product  # card-ready: category selected, stock_total annotated
    reason: str  # "Because you viewed Blue denim jacket"
    source: str  # the strategy that picked it


@dataclass(frozen=True)
class RecommendationBlock:
    key: str
    title: str
    items: list[RecommendedProduct]


def _reason(candidate: Candidate, products: dict[int, Product], context: ShopperContext) -> str:
    because = products.get(candidate.because) if candidate.because else None
    product = products[candidate.product_id]
    if candidate.reason == "searched":
        return f"Because you searched for “{candidate.query}”"
    if candidate.reason == "category":
        return f"Popular in {product.category.name}"
    if candidate.reason == "popular" or because is None:
        return "Popular right now"
    if candidate.reason == "similar":
        return f"Similar to {because.title}"
    if candidate.reason == "together" or because.pk in context.cart:
        return f"Often bought with {because.title}"
    verb = "bought" if because.pk in context.purchased else "viewed"
    return f"Because you {verb} {because.title}"


def brand_cap(limit: int) -> int:
    """At most a third of a row from one brand (at least one), so no brand fills a row."""
    return max(1, math.ceil(limit / 3))


def recommendation_block(*, block: str, context: ShopperContext, limit: int = 8) -> RecommendationBlock:
    """Up to `limit` available products for one storefront block, walking its strategy chain.

    Excludes what the shopper bought, what is in the cart, the page's own product, inactive and
    out-of-stock products; caps each brand (brand_cap), filling from capped picks only when nothing else is
    left. One product query per strategy that is reached (usually one or two)."""
    limit = max(1, min(limit, MAX_LIMIT))
    excluded = set(context.purchased) | set(context.cart) | ({context.anchor} if context.anchor else set())
    seen = set(excluded)
    chosen: list[tuple[Candidate, Product]] = []
    capped: list[tuple[Candidate, Product]] = []
    brands: Counter[str] = Counter()
    cap = brand_cap(limit)
    products: dict[int, Product] = {}
    for strategy in chain(block):
        if len(chosen) >= limit:
            break
        try:
            candidates = strategy.candidates(context, 3 * limit + len(excluded))
        except Exception:  # one strategy's failure must not cost the page its block
            logger.exception("recommendation strategy %s failed for block %s", strategy.name, block)
            continue
        fresh = [c for c in candidates if c.product_id not in seen]
        products.update((c.product_id, c.product) for c in fresh if c.product is not None)
        wanted = {c.product_id for c in fresh} | {c.because for c in fresh if c.because}
        wanted -= products.keys()
        if wanted:
            products.update((p.pk, p) for p in catalog_selectors.products_by_ids(ids=wanted, active_only=False))
        for candidate in fresh:
            seen.add(candidate.product_id)
            product = products.get(candidate.product_id)
            if product is None or not product.is_active or product.stock_total <= 0:
                continue
            if brands[product.brand] >= cap:
                capped.append((candidate, product))
                continue
            brands[product.brand] += 1
            chosen.append((candidate, product))
            if len(chosen) >= limit:
                break
    chosen += capped[: limit - len(chosen)]
    items = [RecommendedProduct(product, _reason(c, products, context), c.source) for c, product in chosen]
    return RecommendationBlock(key=block, title=BLOCK_TITLES[block], items=items)


def shopper_is_unknown(shopper: ShopperContext) -> bool:
    """No history, searches, purchases or cart (most guests): such a shopper gets what every other one gets on
    a page."""
    return not (shopper.history or shopper.searches or shopper.purchased or shopper.cart)


def blocks_for(*, shopper: ShopperContext, context: str, limit: int = 8) -> list[RecommendationBlock]:
    """The blocks of a page context ("home", "product", "cart") for this shopper, empty ones left out."""
    blocks = [recommendation_block(block=key, context=shopper, limit=limit) for key in CONTEXT_BLOCKS[context]]
    return [block for block in blocks if block.items]


def recommendations_for(
    *, request: HttpRequest, context: str, product: Product | None = None, limit: int = 8
) -> list[RecommendationBlock]:
    """The blocks of a page context for the request's shopper (product pages pass their product). An unknown
    shopper's (shopper_is_unknown) are computed once and cached with the catalog's reads."""
    shopper = shopper_context(request=request, anchor=product, with_cart=context == "cart")
    if not shopper_is_unknown(shopper):
        return blocks_for(shopper=shopper, context=context, limit=limit)
    return catalog_selectors.catalog_cached(
        key=f"reco:{context}:{shopper.anchor}:{limit}",
        compute=lambda: blocks_for(shopper=shopper, context=context, limit=limit),
    )
