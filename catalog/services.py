"""Catalog writes: category and product upserts (used by the importers and the demo seeder), shopper events,
and the stock lock helpers the checkout calls. Every function here owns its transaction, except the stock
helpers, which run inside the caller's (the checkout's) transaction on purpose."""
from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db import transaction
from django.db.models import Case, Count, F, OuterRef, PositiveIntegerField, Subquery, When
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.text import slugify

from catalog.models import Audience, Category, Product, ShopperEvent, Variant
from shop.errors import ApplicationError

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


def event_record(
    *,
    kind: str,
    user: AbstractBaseUser | AnonymousUser | None = None,
    session_key: str | None = "",
    product: Product | None = None,
    query: str = "",
) -> ShopperEvent:
    """Record a shopper event: one INSERT, plus one F() UPDATE of the product's counter for views and
    purchases. Reads nothing, so a page pays about a millisecond. `user` may be anonymous (stored as null)."""
    if kind not in ShopperEvent.Kind.values:
        raise ValueError(f"unknown event kind {kind!r}")
    user = user if user is not None and user.is_authenticated else None
    counter = {ShopperEvent.Kind.VIEW: "view_count", ShopperEvent.Kind.PURCHASE: "sales_count"}.get(kind)
    with transaction.atomic():
        event = ShopperEvent.objects.create(
            kind=kind,
            user=user,
            session_key=(session_key or "")[:40],
            product=product,
            query=query.strip()[:200],
            created_at=timezone.now(),
        )
        if product is not None and counter:
            Product.objects.filter(pk=product.pk).update(**{counter: F(counter) + 1})
    return event


def product_counters_refresh() -> int:
    """Recompute every product's view_count and sales_count from the recorded events (for seeders that
    bulk-create events, and for ops after a clean-up). Returns the number of products updated."""
    with transaction.atomic():
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
        for path in ordered:  # parents come before their children
            slug = category_slug(path)
            category = existing.get(slug)
            if category is None:
                parent = found[path[:-1]] if len(path) > 1 else None
                category = Category.objects.create(
                    name=path[-1][:120], slug=slug, parent=parent, position=first_seen[path]
                )
                existing[slug] = category
            found[path] = category
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
