"""Catalog writes: category and product upserts (used by the importers and the demo seeder), shopper events,
and the stock lock helpers the checkout calls. Every function here owns its transaction, except the stock
helpers, which run inside the caller's (the checkout's) transaction on purpose.

Writes that change what the storefront shows end the cached reads that show it: catalog_cache_invalidate()
for everything, product_cache_invalidate() for one product's page (see catalog.selectors.catalog_cached).
Pages record their shopper events with event_record_deferred(), which batches the writes after responses."""
from __future__ import annotations

import atexit
import hashlib
import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache
from django.core.signals import request_finished
from django.db import DatabaseError, connection, transaction
from django.db.models import Case, Count, F, OuterRef, PositiveIntegerField, Subquery, When
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.text import slugify

from catalog.models import Audience, Category, Product, ShopperEvent, Variant
from catalog.selectors import CATALOG_VERSION_KEY, COPY_ATTRIBUTES, COPY_FIELDS, product_copy, product_version_key
from shop.errors import ApplicationError, NotFoundError

logger = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------- cache


def catalog_cache_invalidate() -> None:
    """End every cached catalog read (see catalog.selectors.catalog_cached): for writes that change what
    listings show."""
    _versions_replace([CATALOG_VERSION_KEY])


def product_cache_invalidate(*, slugs: Iterable[str]) -> None:
    """End the cached page data of these products: for writes that change only their own page (stock)."""
    _versions_replace([product_version_key(slug) for slug in set(slugs)])


def _versions_replace(keys: list[str]) -> None:
    # Inside a transaction the tokens are replaced now and again on commit: now, so reads later in the same
    # transaction (and tests, which never commit) see the change; on commit, because another request may
    # have cached the rows as they were before the commit under the tokens replaced now.
    def replace() -> None:
        cache.set_many({key: uuid.uuid4().hex for key in keys}, timeout=None)

    replace()
    if connection.in_atomic_block:
        transaction.on_commit(replace)


# --------------------------------------------------------------------------------------------- stock


def lock_variants(*, ids: Iterable[int]) -> dict[int, Variant]:
    """Lock the given variant rows (FOR UPDATE) and return them keyed by id, product selected.

    The one place a variant row lock is taken. Rows are locked in primary-key order, so two checkouts that
    share variants always queue on the same first row instead of each holding a row the other wants.
    Only the variant rows are locked (`of=("self",)`): the product row stays free for other shoppers."""
    assert transaction.get_connection().in_atomic_block, "lock_variants must run inside transaction.atomic()"
    ordered_ids = sorted({int(pk) for pk in ids})
    variants = (
        Variant.objects.select_for_update(of=("self",))
        .select_related("product")
        .filter(pk__in=ordered_ids)
        .order_by("pk")
    )
    return {variant.pk: variant for variant in variants}


def _validated_quantities(quantities: dict[int, int]) -> dict[int, int]:
    if not quantities:
        raise ApplicationError("empty", "No items given.", status=400)
    # bool is an int subclass; True must not mean "one unit".
    bad = {
        str(pk): "must be a positive whole number"
        for pk, qty in quantities.items()
        if type(qty) is not int or qty < 1
    }
    if bad:
        raise ApplicationError("invalid_quantity", "Quantities must be positive whole numbers.", fields=bad, status=400)
    return {int(pk): qty for pk, qty in quantities.items()}


def stock_reserve(*, quantities: dict[int, int]) -> dict[int, Variant]:
    """Take `quantities` (variant id -> units) out of stock and return the locked variants keyed by id.

    Must run inside the caller's atomic block, so the reservation commits or rolls back with the order.
    Raises ApplicationError (409) "variant_unavailable" when a variant is missing or inactive (itself or its
    product) and "insufficient_stock" with {"<variant_id>": "only N left"} when there is not enough."""
    quantities = _validated_quantities(quantities)
    variants = lock_variants(ids=quantities)
    unavailable = {
        str(pk): "no longer available"
        for pk in sorted(quantities)
        if pk not in variants or not variants[pk].is_active or not variants[pk].product.is_active
    }
    if unavailable:
        raise ApplicationError(
            "variant_unavailable", "Some items are no longer available.", fields=unavailable, status=409
        )
    short = {
        str(pk): f"only {variants[pk].stock} left" for pk in sorted(quantities) if variants[pk].stock < quantities[pk]
    }
    if short:
        raise ApplicationError("insufficient_stock", "Not enough stock for some items.", fields=short, status=409)
    _stock_change(variants=variants, deltas={pk: -qty for pk, qty in quantities.items()})
    return variants


def stock_release(*, quantities: dict[int, int]) -> None:
    """Put `quantities` (variant id -> units) back into stock, e.g. when an order is cancelled.

    Must run inside the caller's atomic block. Variants deleted since are skipped; inactive ones still get
    their stock back so a reactivated variant has the right count."""
    quantities = _validated_quantities(quantities)
    variants = lock_variants(ids=quantities)
    _stock_change(variants=variants, deltas={pk: qty for pk, qty in quantities.items() if pk in variants})


def _stock_change(*, variants: dict[int, Variant], deltas: dict[int, int]) -> None:
    # One UPDATE for all rows; F() keeps the arithmetic in the database. The rows are locked, so the
    # in-memory copies can be brought up to date without reading them back.
    if not deltas:
        return
    # A product page shows the units left; listings show only whether a product can be bought (the "Out of
    # stock" badge, the size facet), so only a variant selling out or coming back changes them.
    product_cache_invalidate(slugs=[variants[pk].product.slug for pk in deltas])
    if any((variants[pk].stock > 0) != (variants[pk].stock + delta > 0) for pk, delta in deltas.items()):
        catalog_cache_invalidate()
    Variant.objects.filter(pk__in=deltas).update(
        stock=Case(
            *(When(pk=pk, then=F("stock") + delta) for pk, delta in deltas.items()),
            default=F("stock"),
            output_field=PositiveIntegerField(),
        )
    )
    for pk, delta in deltas.items():
        variants[pk].stock += delta


# -------------------------------------------------------------------------------------------- events


_KINDS = frozenset(ShopperEvent.Kind.values)
_COUNTERS = {ShopperEvent.Kind.VIEW: "view_count", ShopperEvent.Kind.PURCHASE: "sales_count"}


def _event_build(
    *,
    kind: str,
    user: AbstractBaseUser | AnonymousUser | None,
    session_key: str | None,
    product_id: int | None,
    query: str,
) -> ShopperEvent:
    if kind not in _KINDS:
        raise ValueError(f"unknown event kind {kind!r}")
    return ShopperEvent(
        kind=kind,
        user=user if user is not None and user.is_authenticated else None,
        session_key=(session_key or "")[:40],
        product_id=product_id,
        query=query.strip()[:200],
        created_at=timezone.now(),
    )


def event_record(
    *,
    kind: str,
    user: AbstractBaseUser | AnonymousUser | None = None,
    session_key: str | None = "",
    product: Product | None = None,
    query: str = "",
) -> ShopperEvent:
    """Record a shopper event now: one INSERT, plus one F() UPDATE of the product's counter for views and
    purchases. For events that belong to a caller's transaction (add to cart, purchase); a page view uses
    event_record_deferred(). `user` may be anonymous (stored as null)."""
    product_id = product.pk if product is not None else None
    event = _event_build(kind=kind, user=user, session_key=session_key, product_id=product_id, query=query)
    _event_write(event)
    return event


def _event_write(event: ShopperEvent) -> None:
    counter = _COUNTERS.get(event.kind)
    # Inside the caller's transaction no savepoint is needed: a failure here fails the caller's block anyway.
    with transaction.atomic(savepoint=False):
        event.save(force_insert=True)
        if event.product_id is not None and counter:
            Product.objects.filter(pk=event.product_id).update(**{counter: F(counter) + 1})


def event_record_deferred(
    *,
    kind: str,
    user: AbstractBaseUser | AnonymousUser | None = None,
    session_key: str | None = "",
    product_id: int | None = None,
    query: str = "",
) -> None:
    """Queue a shopper event (a product view, a search) to be written with others, after a response.

    Costs the page microseconds instead of a transaction: the queue is written by events_flush() once a
    response has gone out and it holds CATALOG_EVENT_BATCH_SIZE events (default 50) or its oldest is
    CATALOG_EVENT_MAX_DELAY_SECONDS old (default 2), and when the process exits normally (a gunicorn worker
    stopped or recycled, runserver reloading). The trade-off: events reach the table (and the view counter)
    up to that delay late, and a process killed outright (SIGKILL, out of memory) loses what it held.

    Inside a transaction (ATOMIC_REQUESTS, a test case) the event is written at once instead, as
    event_record() does: it belongs to that transaction, to commit or roll back with it, and must not be
    written later, outside it."""
    event = _event_build(kind=kind, user=user, session_key=session_key, product_id=product_id, query=query)
    if connection.in_atomic_block:
        _event_write(event)
        return
    _pending_events.add(event)


class _PendingEvents:
    """This process's queue of deferred events. Thread-safe: runserver and gthread workers serve requests
    on several threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[tuple[str, ShopperEvent]] = []
        self._oldest = 0.0
        self._hooked = False

    def add(self, event: ShopperEvent) -> None:
        # Each event remembers the database it was recorded against: at the end of a test run the
        # connection points back at the real database, and a test's events must not land there.
        with self._lock:
            if not self._events:
                self._oldest = time.monotonic()
            self._events.append((connection.settings_dict["NAME"], event))
            if not self._hooked:
                # Hooked on first use, so processes that never defer an event (Celery, commands) carry nothing.
                request_finished.connect(_events_flush_when_due, dispatch_uid="catalog-events-flush")
                atexit.register(events_flush)
                self._hooked = True

    def due(self) -> bool:
        with self._lock:
            if not self._events:
                return False
            full = len(self._events) >= getattr(settings, "CATALOG_EVENT_BATCH_SIZE", 50)
            old = time.monotonic() - self._oldest >= getattr(settings, "CATALOG_EVENT_MAX_DELAY_SECONDS", 2)
            return full or old

    def take(self) -> list[ShopperEvent]:
        """Empty the queue; returns the events recorded against the database now connected to."""
        with self._lock:
            taken, self._events = self._events, []
        database = connection.settings_dict["NAME"]
        kept = [event for name, event in taken if name == database]
        if len(kept) < len(taken):
            # Only a test run switches databases under a process (at its end, back to the real one).
            logger.info("dropped %d shopper events recorded against another database", len(taken) - len(kept))
        return kept


_pending_events = _PendingEvents()


def events_flush() -> int:
    """Write the deferred events: one multi-row INSERT and one UPDATE per counter, in one transaction.
    Returns how many were written. A database error is logged and the batch dropped: events are
    analytics, and retrying a batch that fails for good would grow the queue without end."""
    events = _pending_events.take()
    if not events:
        return 0
    try:
        with transaction.atomic():
            ShopperEvent.objects.bulk_create(events)
            _counters_add(events)
    except DatabaseError:
        logger.exception("could not write %d shopper events; dropped", len(events))
        return 0
    return len(events)


def events_discard() -> int:
    """Drop the deferred events without writing them; returns how many. For test suites, between tests."""
    return len(_pending_events.take())


def _counters_add(events: list[ShopperEvent]) -> None:
    for kind, counter in _COUNTERS.items():
        added = Counter(event.product_id for event in events if event.kind == kind and event.product_id)
        if not added:
            continue
        # Row locks in primary-key order, like every other lock on these rows (checkout's purchase events),
        # so two flushes, or a flush and a checkout, queue instead of deadlocking.
        Product.objects.select_for_update().filter(pk__in=added).order_by("pk").values_list("pk").last()
        # One UPDATE per distinct increment: nearly every product in a batch was seen once, so that is one or
        # two plain statements, much cheaper to build and run than a CASE with a branch per product.
        by_increment: dict[int, list[int]] = {}
        for product_id, n in added.items():
            by_increment.setdefault(n, []).append(product_id)
        for n, ids in sorted(by_increment.items()):
            Product.objects.filter(pk__in=ids).update(**{counter: F(counter) + n})


def _events_flush_when_due(**kwargs: Any) -> None:
    # request_finished: the response has been sent, so the shopper does not wait for the write.
    if _pending_events.due():
        events_flush()


def product_counters_refresh() -> int:
    """Recompute every product's view_count and sales_count from the recorded events (for seeders that
    bulk-create events, and for ops after a clean-up). Returns the number of products updated."""
    with transaction.atomic():
        catalog_cache_invalidate()  # "popular" orders listings by these counters
        return Product.objects.update(
            view_count=_event_count(ShopperEvent.Kind.VIEW), sales_count=_event_count(ShopperEvent.Kind.PURCHASE)
        )


def _event_count(kind: str) -> Coalesce:
    per_product = (
        ShopperEvent.objects.filter(product=OuterRef("pk"), kind=kind)
        .order_by()
        .values("product")
        .annotate(n=Count("pk"))
        .values("n")[:1]
    )
    return Coalesce(Subquery(per_product), 0)


# ---------------------------------------------------------------------------------------------- copy


def product_copy_update(*, product_id: int, field: str, text: str) -> str:
    """Publish merchant copy to a product (a description, SEO title or meta description, a promo line or
    feature bullets; see catalog.selectors.COPY_FIELDS and COPY_ATTRIBUTES) and return the text it replaced.
    Empty text clears it. The product's updated_at moves on, so the search indexer picks the new text up,
    and the cached pages that show it end."""
    if field not in COPY_FIELDS + COPY_ATTRIBUTES:
        raise ValueError(f"not a copy field: {field!r}")
    if field in COPY_FIELDS:
        limit = Product._meta.get_field(field).max_length
        if limit and len(text) > limit:
            raise ApplicationError(
                "too_long", f"The {field.replace('_', ' ')} is {len(text)} characters; at most {limit} fit.",
                fields={field: f"at most {limit} characters"},
            )
    with transaction.atomic():
        product = Product.objects.select_for_update().filter(pk=product_id).first()
        if product is None:
            raise NotFoundError("product_not_found", "No such product.")
        previous = product_copy(product=product, field=field)
        if field in COPY_ATTRIBUTES:
            attributes = dict(product.attributes) if isinstance(product.attributes, dict) else {}
            if text:
                attributes[field] = text
            else:
                attributes.pop(field, None)
            changes: dict[str, Any] = {"attributes": attributes}
        else:
            changes = {field: text}
        Product.objects.filter(pk=product_id).update(**changes, updated_at=timezone.now())
        catalog_cache_invalidate()
    return previous


# ------------------------------------------------------------------------------------------- upserts


@dataclass(frozen=True)
class VariantRecord:
    """One sellable variant as a source describes it. `stock=None` means the source says nothing about
    stock: an existing variant keeps its count and a new one starts at `initial_stock`."""

    sku: str
    price: Decimal
    size: str = ""
    colour: str = ""
    stock: int | None = None
    initial_stock: int = 0


@dataclass
class ProductRecord:
    """One product with its variants, keyed by `external_id`. SEO fields left as None are not touched, so
    a re-import never wipes copy a merchant approved; `slug` is only used when the product is created."""

    external_id: str
    title: str
    brand: str
    category_path: tuple[str, ...]
    price: Decimal
    variants: list[VariantRecord]
    description: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)
    audience: str = ""
    colour: str = ""
    currency: str = "INR"
    seo_title: str | None = None
    seo_description: str | None = None
    slug: str | None = None
    line: int | None = None  # where the record starts in its source file, for error reports


@dataclass(frozen=True)
class RecordError:
    line: int | None
    key: str
    reason: str


@dataclass
class UpsertResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    variants_created: int = 0
    variants_updated: int = 0
    errors: list[RecordError] = field(default_factory=list)

    def add(self, other: UpsertResult) -> None:
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.variants_created += other.variants_created
        self.variants_updated += other.variants_updated
        self.errors.extend(other.errors)


def category_slug(path: Sequence[str]) -> str:
    """The slug a category at `path` (("Women", "Kurtas") -> "women-kurtas") is stored under."""
    return slugify(" ".join(path))[:140]


def categories_ensure(*, paths: Iterable[Sequence[str]]) -> dict[tuple[str, ...], Category]:
    """Make sure every category along each path exists (matched by slug) and return them by path,
    including every prefix. New categories are positioned in the order the paths first name them; existing
    ones keep their names and positions, so a merchant's edits survive imports."""
    first_seen: dict[tuple[str, ...], int] = {}
    for path in paths:
        clean = _clean_path(path)
        for depth in range(1, len(clean) + 1):
            first_seen.setdefault(clean[:depth], len(first_seen))
    ordered = sorted(first_seen, key=len)  # stable: parents before children, first-seen order kept
    with transaction.atomic():
        existing = {c.slug: c for c in Category.objects.filter(slug__in=[category_slug(p) for p in ordered])}
        found: dict[tuple[str, ...], Category] = {}
        created = False
        for path in ordered:  # parents come before their children
            slug = category_slug(path)
            category = existing.get(slug)
            if category is None:
                parent = found[path[:-1]] if len(path) > 1 else None
                category = Category.objects.create(
                    name=path[-1][:120], slug=slug, parent=parent, position=first_seen[path]
                )
                existing[slug] = category
                created = True
            found[path] = category
        if created:
            catalog_cache_invalidate()
    return found


_PRODUCT_FIELDS = (
    "title", "brand", "category_id", "description", "attributes", "audience", "colour", "price", "currency"
)
_OPTIONAL_FIELDS = ("seo_title", "seo_description")
_VARIANT_FIELDS = ("size", "colour", "price")
_LIMITS = {
    "external_id": 100, "title": 255, "brand": 120, "colour": 40, "currency": 3, "seo_title": 60, "seo_description": 155
}
_MAX_PRICE = Decimal("99999999.99")


def _record_problem(record: ProductRecord) -> str | None:
    for name, limit in _LIMITS.items():
        value = getattr(record, name)
        if value is not None and len(value) > limit:
            return f"{name} is longer than {limit} characters"
    if not record.external_id or not record.title.strip() or not record.brand.strip():
        return "external id, title and brand are required"
    if not _clean_path(record.category_path):
        return "no category"
    if record.audience not in {"", *Audience.values}:
        return f"unknown audience {record.audience!r}"
    if not record.variants:
        return "no variants"
    for priced in [record, *record.variants]:
        if not Decimal("0") <= priced.price <= _MAX_PRICE:
            return f"price {priced.price} is out of range"
    for variant in record.variants:
        if not variant.sku or len(variant.sku) > 64 or len(variant.size) > 20 or len(variant.colour) > 40:
            return f"variant {variant.sku!r}: SKU (1-64), size (<= 20) or colour (<= 40) has a bad length"
        if (variant.stock is not None and variant.stock < 0) or variant.initial_stock < 0:
            return f"variant {variant.sku}: negative stock"
    return None


def products_upsert(*, records: Sequence[ProductRecord]) -> UpsertResult:
    """Create or update products and their variants by external id and SKU, all in one transaction.

    Records that cannot be written (bad values, a SKU owned by another product, a duplicate in the batch)
    are skipped and reported in `result.errors`; the rest are written. A record identical to what is stored
    counts as unchanged and writes nothing, so re-running an import is a no-op."""
    result = UpsertResult()
    accepted: list[ProductRecord] = []
    seen_ids: set[str] = set()
    seen_skus: set[str] = set()
    for record in records:
        skus = [v.sku for v in record.variants]
        problem = _record_problem(record)
        if problem is None and record.external_id in seen_ids:
            problem = f"duplicate product {record.external_id} in the same batch"
        if problem is None and (len(set(skus)) != len(skus) or seen_skus.intersection(skus)):
            problem = "a SKU appears twice"
        if problem:
            result.errors.append(RecordError(record.line, record.external_id, problem))
            continue
        seen_ids.add(record.external_id)
        seen_skus.update(skus)
        accepted.append(record)

    with transaction.atomic():
        stored_variants = _stored_variants(skus=seen_skus)
        writable = []
        for record in accepted:
            taken = [
                v.sku
                for v in record.variants
                if v.sku in stored_variants and stored_variants[v.sku]["owner"] != record.external_id
            ]
            if taken:
                owner = stored_variants[taken[0]]["owner"] or "made outside imports"
                reason = f"SKU {taken[0]} belongs to another product ({owner})"
                result.errors.append(RecordError(record.line, record.external_id, reason))
            else:
                writable.append(record)
        categories = categories_ensure(paths=[r.category_path for r in writable])
        product_ids, status = _write_products(records=writable, categories=categories)
        result.variants_created, result.variants_updated = _write_variants(
            records=writable, product_ids=product_ids, stored=stored_variants, status=status
        )
        if any(outcome != "unchanged" for outcome in status.values()):
            catalog_cache_invalidate()
    result.created = sum(1 for s in status.values() if s == "created")
    result.updated = sum(1 for s in status.values() if s == "updated")
    result.unchanged = sum(1 for s in status.values() if s == "unchanged")
    return result


def _clean_path(path: Sequence[str]) -> tuple[str, ...]:
    return tuple(part.strip() for part in path if part and part.strip())


def _chunks(values: Iterable[str], size: int = 900) -> Iterable[list[str]]:
    # Keeps each IN (...) under SQLite's bound-parameter limit whatever the batch size.
    values = list(values)
    return (values[i:i + size] for i in range(0, len(values), size))


def _stored_variants(*, skus: Iterable[str]) -> dict[str, dict[str, Any]]:
    # Plain values, not model instances: on a re-import nearly everything is unchanged, and building tens of
    # thousands of instances only to compare them would be most of the run's time.
    columns = ["pk", "sku", "size", "colour", "price", "stock", "owner"]
    stored: dict[str, dict[str, Any]] = {}
    for chunk in _chunks(skus):
        rows = Variant.objects.filter(sku__in=chunk).annotate(owner=F("product__external_id")).values(*columns)
        stored.update((row["sku"], row) for row in rows)
    return stored


def _write_products(
    *, records: list[ProductRecord], categories: dict[tuple[str, ...], Category]
) -> tuple[dict[str, int], dict[str, str]]:
    """Insert new products and update changed ones. Returns product ids and each product's outcome
    ("created", "updated", "unchanged"), both by external id."""
    stored: dict[str, dict[str, Any]] = {}
    for chunk in _chunks(r.external_id for r in records):
        rows = Product.objects.filter(external_id__in=chunk).values(
            "pk", "external_id", *_PRODUCT_FIELDS, *_OPTIONAL_FIELDS
        )
        stored.update((row["external_id"], row) for row in rows)
    status: dict[str, str] = {}
    product_ids = {external_id: row["pk"] for external_id, row in stored.items()}
    now = timezone.now()
    new: list[Product] = []
    changed: list[Product] = []
    for record in records:
        values: dict[str, Any] = {
            "title": record.title.strip(),
            "brand": record.brand.strip(),
            "category_id": categories[_clean_path(record.category_path)].pk,
            "description": record.description,
            "attributes": record.attributes,
            "audience": record.audience,
            "colour": record.colour,
            "price": record.price,
            "currency": record.currency,
        }
        values.update({name: getattr(record, name) for name in _OPTIONAL_FIELDS if getattr(record, name) is not None})
        row = stored.get(record.external_id)
        if row is None:
            new.append(Product(external_id=record.external_id, **values))
            status[record.external_id] = "created"
        elif any(row[name] != value for name, value in values.items()):
            kept = {name: row[name] for name in _OPTIONAL_FIELDS if name not in values}
            changed.append(Product(pk=row["pk"], external_id=record.external_id, updated_at=now, **values, **kept))
            status[record.external_id] = "updated"
        else:
            status[record.external_id] = "unchanged"
    _assign_slugs(products=new, hints={r.external_id: r.slug for r in records})
    Product.objects.bulk_create(new)  # sets pk on SQLite and PostgreSQL
    product_ids.update((product.external_id, product.pk) for product in new)
    if changed:
        # updated_at is set by hand: bulk_update skips auto_now.
        Product.objects.bulk_update(changed, [*_PRODUCT_FIELDS, *_OPTIONAL_FIELDS, "updated_at"])
    return product_ids, status


def _write_variants(
    *,
    records: list[ProductRecord],
    product_ids: dict[str, int],
    stored: dict[str, dict[str, Any]],
    status: dict[str, str],
) -> tuple[int, int]:
    """Insert new variants and update changed ones; a product whose variants changed counts as updated.
    Variants a source no longer lists are left alone (orders may point at them)."""
    new: list[Variant] = []
    # Stock is only written when the source states it: the stored count was read without a lock, and
    # writing it back could undo a checkout that committed in between.
    changed: list[Variant] = []
    restocked: list[Variant] = []
    for record in records:
        for item in record.variants:
            values = {"size": item.size, "colour": item.colour, "price": item.price}
            row = stored.get(item.sku)
            if row is None:
                stock = item.initial_stock if item.stock is None else item.stock
                new.append(Variant(product_id=product_ids[record.external_id], sku=item.sku, stock=stock, **values))
            else:
                if item.stock is not None:
                    values["stock"] = item.stock
                if all(row[name] == value for name, value in values.items()):
                    continue
                (restocked if "stock" in values else changed).append(Variant(pk=row["pk"], **values))
            if status[record.external_id] == "unchanged":
                status[record.external_id] = "updated"
    Variant.objects.bulk_create(new)
    if changed:
        Variant.objects.bulk_update(changed, list(_VARIANT_FIELDS))
    if restocked:
        Variant.objects.bulk_update(restocked, [*_VARIANT_FIELDS, "stock"])
    return len(new), len(changed) + len(restocked)


def _assign_slugs(*, products: list[Product], hints: dict[str, str | None]) -> None:
    """Give new products unique slugs: the hint or "<title>-<short hash of the external id>"; on a clash the
    full hash, then a counter."""
    def candidates(product: Product) -> list[str]:
        digest = hashlib.sha1(product.external_id.encode()).hexdigest()
        base = slugify(product.title)[:200] or "product"
        first = slugify(hints.get(product.external_id) or "")[:255] or f"{base}-{digest[:6]}"
        return [first, f"{base}-{digest[:16]}"]

    options = {p.external_id: candidates(p) for p in products}
    wanted = [slug for slugs in options.values() for slug in slugs]
    taken = set(Product.objects.filter(slug__in=wanted).values_list("slug", flat=True))
    for product in products:
        slug = next((s for s in options[product.external_id] if s not in taken), None)
        counter = 2
        while slug is None or slug in taken:
            slug = f"{options[product.external_id][1]}-{counter}"
            counter += 1
        taken.add(slug)
        product.slug = slug
