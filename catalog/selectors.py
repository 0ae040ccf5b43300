"""Catalog reads: the category tree, product listings with facets, sorting and pagination, keyword search,
product detail, popular products, and the lookups other apps use (by id, slug, SKU).

Every function runs a fixed number of queries, whatever the number of rows it returns. The category tree, a
product page's data and (through catalog_cached()) the storefront's rendered listings are kept in Django's
cache, stamped with version tokens that catalog.services replaces when it writes; see catalog_cached()."""
from __future__ import annotations

import hashlib
import random
import re
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from django.conf import settings
from django.core.cache import cache
from django.core.paginator import Page, Paginator
from django.db.models import Case, Count, Exists, Max, Min, OuterRef, Prefetch, Q, QuerySet, Sum, Value, When

from catalog.models import Audience, Category, Product, ShopperEvent, Variant

T = TypeVar("T")

SORT_CHOICES = [
    ("relevance", "Relevance"),
    ("popular", "Most popular"),
    ("newest", "Newest"),
    ("price_asc", "Price: low to high"),
    ("price_desc", "Price: high to low"),
]
_POPULAR_ORDER = ("-sales_count", "-view_count", "id")
_SORT_ORDER = {
    "popular": _POPULAR_ORDER,
    "newest": ("-created_at", "-id"),
    "price_asc": ("price", "id"),
    "price_desc": ("-price", "id"),
}
# Shown in this order in the size facet; anything else (waist sizes, UK shoe sizes, ages) sorts after, naturally.
_SIZE_ORDER = ["XXS", "XS", "S", "M", "L", "XL", "XXL", "3XL", "4XL", "ONE SIZE"]
_BRAND_FACET_LIMIT = 25


def low_stock_threshold() -> int:
    return getattr(settings, "CATALOG_LOW_STOCK_THRESHOLD", 5)


# -------------------------------------------------------------------------------------------- caching

# The version token of everything the storefront shows; catalog.services replaces it on catalog writes.
CATALOG_VERSION_KEY = "catalog:version"


def product_version_key(slug: str) -> str:
    """The version token of one product page's data; catalog.services replaces it when its stock changes."""
    return f"catalog:version:product:{cache_key_part(slug)}"


def cache_key_part(text: str) -> str:
    """`text` as part of a cache key: as it is when short and plain, else hashed (memcached refuses keys over
    250 characters or with spaces, and Django warns about them whatever the backend)."""
    if re.fullmatch(r"[-\w]{1,100}", text, flags=re.ASCII):
        return text
    return hashlib.sha1(text.encode()).hexdigest()


def catalog_cache_seconds() -> int:
    """How long a cached catalog read may live, at most (see catalog_cached()). Writes through
    catalog.services (and the catalog admin) replace the version tokens and so end it at once (everywhere
    when the cache is shared, as Redis is); this bounds how stale a read can be after writes that bypass
    them (view and sales counters, and, with the per-process LocMemCache, writes made in another process)."""
    return getattr(settings, "CATALOG_CACHE_SECONDS", 60)


def catalog_cached(*, key: str, compute: Callable[[], T], versions: Iterable[str] = ()) -> T:
    """`compute()`'s value, from the cache when it was stored under the current catalog version (and the
    current tokens of the further `versions` keys).

    The value is stored with the tokens it was computed under, which are read in the same cache round trip
    as the value, so a hit costs one cache read whatever the backend. A token replaced while `compute()`
    ran leaves the stored value already out of date, never wrongly current."""
    key = f"catalog:{key}"
    version_keys = [CATALOG_VERSION_KEY, *versions]
    found = cache.get_many([*version_keys, key])
    tokens = tuple(found.get(name) or _version_start(name) for name in version_keys)
    stamped = found.get(key)
    if stamped is not None and stamped[0] == tokens:
        return stamped[1]
    value = compute()
    # Entries filled together (at start-up, in a busy minute) would otherwise end together, and every worker
    # would recompute every page at the same moment: their ends are spread over the last quarter of the life.
    cache.set(key, (tokens, value), catalog_cache_seconds() * random.uniform(0.75, 1.0))
    return value


def _version_start(key: str) -> str:
    # First use, or the cache dropped the token: any fresh one will do, since nothing is stored under it.
    # Never expires by itself: a token that vanished would only cost recomputing what it stamped.
    cache.add(key, uuid.uuid4().hex, timeout=None)
    return cache.get(key) or ""


# ------------------------------------------------------------------------------------------ categories


@dataclass
class CategoryNode:
    category: Category
    children: list[CategoryNode] = field(default_factory=list)
    product_count: int = 0  # active products here and below; filled by category_tree(with_counts=True)


@dataclass
class CategoryTree:
    roots: list[CategoryNode]
    by_id: dict[int, CategoryNode]
    by_slug: dict[str, CategoryNode]

    def descendant_ids(self, category_id: int) -> list[int]:
        """The category's id and those of every category below it."""
        ids, stack = [], [self.by_id[category_id]]
        while stack:
            node = stack.pop()
            ids.append(node.category.pk)
            stack.extend(node.children)
        return ids

    def ancestors(self, category_id: int) -> list[Category]:
        """The path from the root down to the category, itself included."""
        path = []
        node: CategoryNode | None = self.by_id.get(category_id)
        while node is not None:
            path.append(node.category)
            parent_id = node.category.parent_id
            node = self.by_id.get(parent_id) if parent_id else None
        return path[::-1]


def category_tree(*, with_counts: bool = False) -> CategoryTree:
    """All categories as a tree, cached (see catalog_cached(); on a miss one query, two with counts).
    Categories are few, so one read of the whole table is cheaper than walking the tree level by level.
    Each call returns its own copy, which the caller may change."""
    return catalog_cached(key=f"category-tree:{int(with_counts)}", compute=lambda: _category_tree(with_counts))


def _category_tree(with_counts: bool) -> CategoryTree:
    nodes = {c.pk: CategoryNode(category=c) for c in Category.objects.all()}
    roots = []
    for node in nodes.values():
        parent = nodes.get(node.category.parent_id) if node.category.parent_id else None
        (parent.children if parent else roots).append(node)
    tree = CategoryTree(roots=roots, by_id=nodes, by_slug={n.category.slug: n for n in nodes.values()})
    if with_counts:
        counts = Product.objects.filter(is_active=True).values("category_id").annotate(n=Count("id")).order_by()
        for row in counts:
            for category in tree.ancestors(row["category_id"]):
                tree.by_id[category.pk].product_count += row["n"]
    return tree


def category_by_slug(*, slug: str) -> Category | None:
    """The category with this slug, cached (see catalog_cached()); None if there is none."""
    return catalog_cached(
        key=f"category:{cache_key_part(slug)}", compute=lambda: Category.objects.filter(slug=slug).first()
    )


# -------------------------------------------------------------------------------------------- listing


@dataclass(frozen=True)
class ProductFilters:
    """What a shopper asked for; values are already validated (see catalog.forms.ProductFilterForm)."""

    q: str = ""
    brands: tuple[str, ...] = ()
    colours: tuple[str, ...] = ()
    sizes: tuple[str, ...] = ()
    audiences: tuple[str, ...] = ()
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    sort: str = "relevance"

    @property
    def narrowed(self) -> bool:
        """Whether any facet (beyond the words searched for) narrows the results."""
        return bool(self.brands or self.colours or self.sizes or self.audiences) or (
            self.min_price is not None or self.max_price is not None
        )


@dataclass(frozen=True)
class FacetValue:
    value: str
    label: str
    count: int
    selected: bool


@dataclass(frozen=True)
class Facets:
    brands: list[FacetValue]
    colours: list[FacetValue]
    sizes: list[FacetValue]
    audiences: list[FacetValue]
    price_min: Decimal | None
    price_max: Decimal | None


@dataclass
class ProductListing:
    page: Page
    products: list[Product]
    facets: Facets
    filters: ProductFilters
    category: Category | None
    breadcrumbs: list[Category]
    subcategories: list[CategoryNode]
    top_categories: list[Category]


_STOPWORDS = {"a", "an", "and", "the", "for", "with", "in", "of", "to", "on", "my", "me", "i", "want", "show", "buy"}
_PRICE_CAP = re.compile(r"\b(?:under|below|less than|up ?to|within|max)\s*(?:rs\.?|inr|₹)?\s*(\d{2,7})\b", re.I)
_PRICE_FLOOR = re.compile(r"\b(?:over|above|more than|min)\s*(?:rs\.?|inr|₹)?\s*(\d{2,7})\b", re.I)


@dataclass(frozen=True)
class ParsedQuery:
    terms: tuple[str, ...]
    min_price: Decimal | None
    max_price: Decimal | None


def parse_query(text: str) -> ParsedQuery:
    """Split a plain-words query ("red cotton kurta under 1500") into search terms and a price range."""
    cap, floor = _PRICE_CAP.search(text), _PRICE_FLOOR.search(text)
    text = _PRICE_FLOOR.sub(" ", _PRICE_CAP.sub(" ", text))
    terms = []
    for word in re.findall(r"[\w&'-]+", text.lower())[:12]:
        if word in _STOPWORDS or len(word) < 2:
            continue
        # A crude stem: "kurtas" and "dresses" should find "kurta" and "dress" by substring.
        if len(word) > 4 and word.endswith("es") and word[-3] in "sxz":
            word = word[:-2]
        elif len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        terms.append(word)
    return ParsedQuery(
        terms=tuple(dict.fromkeys(terms)),
        min_price=Decimal(floor.group(1)) if floor else None,
        max_price=Decimal(cap.group(1)) if cap else None,
    )


def _word_start(field_name: str, term: str) -> Q:
    """`term` at the start of a word in the field ("red" finds "Red Kurta" and "black-red", not "embroidered").
    Plain LIKE patterns, so it runs the same on SQLite and PostgreSQL."""
    return (
        Q(**{f"{field_name}__istartswith": term})
        | Q(**{f"{field_name}__icontains": f" {term}"})
        | Q(**{f"{field_name}__icontains": f"-{term}"})
    )


def _term_match(term: str) -> Q:
    return (
        _word_start("title", term)
        | _word_start("brand", term)
        | Q(colour__iexact=term)
        | _word_start("category__name", term)
        | _word_start("description", term)
    )


def _search_score(terms: Iterable[str], phrase: str) -> Any:
    # Title hits weigh most, then brand, then description; the whole phrase in the title beats scattered words.
    score: Any = Value(0)
    for term in terms:
        score += Case(When(_word_start("title", term), then=Value(3)), default=Value(0))
        score += Case(When(_word_start("brand", term), then=Value(2)), default=Value(0))
        score += Case(When(_word_start("description", term), then=Value(1)), default=Value(0))
    if phrase:
        score += Case(When(_word_start("title", phrase), then=Value(5)), default=Value(0))
    return score


def _active_products() -> QuerySet[Product]:
    return Product.objects.filter(is_active=True)


def _with_stock_totals(products: list[Product]) -> list[Product]:
    """Set `stock_total` (units over active variants) on each product card, in one query for all of them.

    Done once the page is known rather than as a subquery column: a correlated subquery in the SELECT list
    is evaluated for every matching row before ORDER BY ... LIMIT, thousands of lookups for a page of 24."""
    if not products:
        return products
    totals = dict(
        Variant.objects.filter(product__in=[p.pk for p in products], is_active=True)
        .order_by()
        .values("product")
        .annotate(total=Sum("stock"))
        .values_list("product", "total")
    )
    for product in products:
        product.stock_total = totals.get(product.pk) or 0
    return products


def _filtered(queryset: QuerySet[Product], filters: ProductFilters, *, skip: str = "") -> QuerySet[Product]:
    """Apply every filter except `skip`, so a facet's counts show what choosing another value would give."""
    if filters.brands and skip != "brand":
        queryset = queryset.filter(_any_iexact("brand", filters.brands))
    if filters.colours and skip != "colour":
        queryset = queryset.filter(_any_iexact("colour", filters.colours))
    if filters.audiences and skip != "audience":
        queryset = queryset.filter(audience__in=filters.audiences)
    if filters.sizes and skip != "size":
        # "In size M" means buyable in M, so sold-out sizes do not count (nor in the size facet).
        sized = Variant.objects.filter(product=OuterRef("pk"), is_active=True, stock__gt=0, size__in=filters.sizes)
        queryset = queryset.filter(Exists(sized))
    if skip != "price":
        if filters.min_price is not None:
            queryset = queryset.filter(price__gte=filters.min_price)
        if filters.max_price is not None:
            queryset = queryset.filter(price__lte=filters.max_price)
    return queryset


def _any_iexact(field_name: str, values: Iterable[str]) -> Q:
    condition = Q()
    for value in values:
        condition |= Q(**{f"{field_name}__iexact": value})
    return condition


def _size_key(size: str) -> tuple[int, float, str]:
    upper = size.upper()
    if upper in _SIZE_ORDER:
        return (0, _SIZE_ORDER.index(upper), upper)
    number = re.match(r"\D*(\d+(?:\.\d+)?)", size)
    return (1, float(number.group(1)) if number else 0.0, upper)


def _facets(base: QuerySet[Product], filters: ProductFilters) -> tuple[Facets, int]:
    """The facets, and how many products match every filter. Two queries when no brand, colour, audience or
    price filter is set, plus one for each that is, whatever the catalog size.

    One grouped query over the matching products (how many, and their price range, per brand, colour and
    audience) gives the total and every facet whose own filter is not in use. A facet whose filter is in use
    is counted without it, in a query of its own, so its counts show what choosing another value would give."""
    breakdown = list(
        _filtered(base, filters)
        .order_by()
        .values("brand", "colour", "audience")
        .annotate(n=Count("id"), low=Min("price"), high=Max("price"))
    )
    in_use = {"brand": bool(filters.brands), "colour": bool(filters.colours), "audience": bool(filters.audiences)}

    def counts(field_name: str) -> list[tuple[str, int]]:
        tally: Counter[str] = Counter()
        if in_use[field_name]:
            rows = (
                _filtered(base, filters, skip=field_name)
                .exclude(**{field_name: ""})
                .order_by()
                .values(field_name)
                .annotate(n=Count("id"))
            )
            tally.update({row[field_name]: row["n"] for row in rows})
        else:
            for row in breakdown:
                if row[field_name]:
                    tally[row[field_name]] += row["n"]
        return sorted(tally.items(), key=lambda item: (-item[1], item[0]))

    chosen_brands = {b.lower() for b in filters.brands}
    brand_counts = counts("brand")
    # Long tails of small brands clutter the form; keep the biggest, and any the shopper already picked.
    brands = [
        FacetValue(brand, brand, n, brand.lower() in chosen_brands)
        for rank, (brand, n) in enumerate(brand_counts)
        if rank < _BRAND_FACET_LIMIT or brand.lower() in chosen_brands
    ]
    chosen_colours = {c.lower() for c in filters.colours}
    colours = [FacetValue(c, c, n, c.lower() in chosen_colours) for c, n in counts("colour")]
    labels = dict(Audience.choices)
    audiences = [FacetValue(a, labels.get(a, a), n, a in filters.audiences) for a, n in counts("audience")]
    size_rows = (
        Variant.objects.filter(
            is_active=True, stock__gt=0, product__in=_filtered(base, filters, skip="size").values("pk")
        )
        .exclude(size="")
        .values("size")
        .annotate(n=Count("product", distinct=True))
        .order_by()
    )
    sizes = sorted(
        (FacetValue(r["size"], r["size"], r["n"], r["size"] in filters.sizes) for r in size_rows),
        key=lambda f: _size_key(f.value),
    )
    if filters.min_price is None and filters.max_price is None:
        low = min((row["low"] for row in breakdown), default=None)
        high = max((row["high"] for row in breakdown), default=None)
    else:
        prices = _filtered(base, filters, skip="price").aggregate(low=Min("price"), high=Max("price"))
        low, high = prices["low"], prices["high"]
    facets = Facets(brands, colours, sizes, audiences, low, high)
    return facets, sum(row["n"] for row in breakdown)


def product_listing(
    *, filters: ProductFilters, category: Category | None = None, page: int | str = 1, page_size: int = 24
) -> ProductListing:
    """A page of active products in `category` (and every category below it) matching `filters`, with
    facet counts, breadcrumbs and subcategories. A fixed number of queries whatever `page_size` is.
    An out-of-range or malformed `page` gives the nearest valid page."""
    tree = category_tree()
    base = _searchable(filters=filters, category=category, tree=tree)
    facets, total = _facets(base, filters)
    paginator = Paginator(_ordered(_filtered(base, filters), filters), page_size)
    paginator.count = total  # already counted by the facets' query: no COUNT(*) of its own
    page_obj = paginator.get_page(page)
    return ProductListing(
        page=page_obj,
        products=products_by_ids(ids=page_obj.object_list),
        facets=facets,
        filters=filters,
        category=category,
        breadcrumbs=tree.ancestors(category.pk) if category else [],
        subcategories=tree.by_id[category.pk].children if category else tree.roots,
        top_categories=[node.category for node in tree.roots],
    )


def product_ids(*, filters: ProductFilters, category: Category | None = None) -> QuerySet:
    """The ordered ids behind a listing (a values_list queryset), for callers that paginate themselves (the
    API): cut a page, then load it with products_by_ids()."""
    tree = category_tree() if category else None
    base = _searchable(filters=filters, category=category, tree=tree)
    return _ordered(_filtered(base, filters), filters)


def _searchable(*, filters: ProductFilters, category: Category | None, tree: CategoryTree | None) -> QuerySet[Product]:
    queryset = _active_products()
    if category is not None and tree is not None:
        queryset = queryset.filter(category_id__in=tree.descendant_ids(category.pk))
    parsed = parse_query(filters.q)
    for term in parsed.terms:
        queryset = queryset.filter(_term_match(term))
    # A price in the words ("under 1500") applies unless the shopper set the range explicitly.
    if parsed.max_price is not None and filters.max_price is None:
        queryset = queryset.filter(price__lte=parsed.max_price)
    if parsed.min_price is not None and filters.min_price is None:
        queryset = queryset.filter(price__gte=parsed.min_price)
    return queryset


def _ordered(queryset: QuerySet[Product], filters: ProductFilters) -> QuerySet:
    """The matching products' ids in the asked-for order. Only ids are sorted and paged: sorting whole rows
    (descriptions and all) costs a big category several times more, and one more query by primary key
    then loads just the page."""
    if filters.sort == "relevance" or filters.sort not in _SORT_ORDER:
        parsed = parse_query(filters.q)
        if not parsed.terms:
            ordered = queryset.order_by(*_POPULAR_ORDER)
        else:
            score = _search_score(parsed.terms, " ".join(parsed.terms) if len(parsed.terms) > 1 else "")
            ordered = queryset.annotate(score=score).order_by("-score", *_POPULAR_ORDER)
    else:
        ordered = queryset.order_by(*_SORT_ORDER[filters.sort])
    return ordered.values_list("pk", flat=True)


def product_search(*, query: str, limit: int = 10) -> list[Product]:
    """The best `limit` active products for a plain-words query, by relevance (for the chat assistant and
    other callers that want a short answer rather than a page)."""
    return products_by_ids(ids=product_ids(filters=ProductFilters(q=query))[:limit])


# --------------------------------------------------------------------------------------------- detail


@dataclass
class ProductDetail:
    product: Product
    variants: list[Variant]  # active ones, in display order
    breadcrumbs: list[Category]
    top_categories: list[Category]

    @property
    def stock_total(self) -> int:
        return sum(v.stock for v in self.variants)

    @property
    def stock_state(self) -> str:
        """"out" (nothing to buy), "low" (at most the low-stock threshold left) or "in"."""
        return stock_state(self.stock_total)

    @property
    def sizes(self) -> list[str]:
        return sorted({v.size for v in self.variants if v.size}, key=_size_key)

    @property
    def colours(self) -> list[str]:
        return sorted({v.colour for v in self.variants if v.colour})

    @property
    def first_available(self) -> Variant | None:
        return next((v for v in self.variants if v.stock > 0), None)

    @property
    def low_stock_variants(self) -> list[Variant]:
        return [v for v in self.variants if 0 < v.stock <= low_stock_threshold()]

    @property
    def attribute_rows(self) -> list[tuple[str, str]]:
        """The product's structured facts as (label, value) rows, for a details list."""
        attributes = self.product.attributes if isinstance(self.product.attributes, dict) else {}
        return [
            (name.replace("_", " "), str(value))
            for name, value in attributes.items()
            if isinstance(value, (str, int, float)) and str(value).strip()
        ]


def stock_state(units: int) -> str:
    if units <= 0:
        return "out"
    return "low" if units <= low_stock_threshold() else "in"


def product_detail(*, slug: str) -> ProductDetail | None:
    """An active product with its active variants (also set as `product.active_variants`) and breadcrumbs;
    None if there is none. Cached (see catalog_cached()) under the product's own version too, which
    catalog.services replaces whenever the product's stock changes: no query when warm, up to three when not."""
    return catalog_cached(
        key=f"product:{cache_key_part(slug)}", compute=lambda: _product_detail(slug),
        versions=[product_version_key(slug)],
    )


def _product_detail(slug: str) -> ProductDetail | None:
    variants = Variant.objects.filter(is_active=True).order_by("id")
    product = (
        _active_products()
        .select_related("category")
        .prefetch_related(Prefetch("variants", queryset=variants, to_attr="active_variants"))
        .filter(slug=slug)
        .first()
    )
    if product is None:
        return None
    ordered = sorted(product.active_variants, key=lambda v: (v.colour, _size_key(v.size), v.pk))
    tree = category_tree()
    return ProductDetail(
        product=product,
        variants=ordered,
        breadcrumbs=tree.ancestors(product.category_id),
        top_categories=[node.category for node in tree.roots],
    )


# ------------------------------------------------------------------------------------ lookups and lists


def popular_products(*, limit: int = 12, category: Category | None = None) -> list[Product]:
    """The best sellers (then most viewed) among active products, optionally within a category and below.
    Cached (see catalog_cached()): every guest's recommendation blocks fall back to these lists."""
    return catalog_cached(
        key=f"popular:{category.pk if category is not None else 'all'}:{limit}",
        compute=lambda: _popular_products(limit, category),
    )


def _popular_products(limit: int, category: Category | None) -> list[Product]:
    queryset = _active_products()
    if category is not None:
        queryset = queryset.filter(category_id__in=category_tree().descendant_ids(category.pk))
    return products_by_ids(ids=queryset.order_by(*_POPULAR_ORDER).values_list("pk", flat=True)[:limit])


# Merchant copy a product shows: model fields, and lines kept in its attributes (catalog.services publishes it).
COPY_FIELDS = ("description", "seo_title", "seo_description")
COPY_ATTRIBUTES = ("promo_line", "features")


def product_copy(*, product: Product, field: str) -> str:
    """What `product` shows now as `field`, one of COPY_FIELDS or COPY_ATTRIBUTES ("" when it has none)."""
    if field in COPY_ATTRIBUTES:
        attributes = product.attributes if isinstance(product.attributes, dict) else {}
        return str(attributes.get(field, ""))
    if field not in COPY_FIELDS:
        raise ValueError(f"not a copy field: {field!r}")
    return getattr(product, field)


def product_by_slug(*, slug: str, active_only: bool = True) -> Product | None:
    queryset = _active_products() if active_only else Product.objects.all()
    return queryset.select_related("category").filter(slug=slug).first()


def products_by_ids(*, ids: Iterable[int], active_only: bool = True) -> list[Product]:
    """Card-ready products (category selected, `stock_total` set) in the order of `ids`, in two queries;
    ids with no (active) product are skipped."""
    wanted = list(dict.fromkeys(int(pk) for pk in ids))
    queryset = _active_products() if active_only else Product.objects.all()
    found = {p.pk: p for p in queryset.select_related("category").filter(pk__in=wanted)}
    return _with_stock_totals([found[pk] for pk in wanted if pk in found])


def variants_by_ids(*, ids: Iterable[int]) -> dict[int, Variant]:
    """Variants (active or not) with their product, keyed by id; for carts and order lines."""
    return {v.pk: v for v in Variant.objects.select_related("product").filter(pk__in=set(ids))}


def variant_by_sku(*, sku: str) -> Variant | None:
    return Variant.objects.select_related("product").filter(sku=sku).first()


def shopper_events(
    *,
    kinds: Iterable[str] | None = None,
    since: datetime | None = None,
    user_id: int | None = None,
    session_key: str | None = None,
) -> QuerySet[ShopperEvent]:
    """Shopper events oldest first (the order sequence models train on), optionally narrowed down."""
    queryset = ShopperEvent.objects.order_by("created_at", "id")
    if kinds is not None:
        queryset = queryset.filter(kind__in=list(kinds))
    if since is not None:
        queryset = queryset.filter(created_at__gte=since)
    if user_id is not None:
        queryset = queryset.filter(user_id=user_id)
    if session_key is not None:
        queryset = queryset.filter(session_key=session_key)
    return queryset
