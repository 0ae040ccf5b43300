"""Demo shoppers for the demo store: an admin, a demo account and 200 synthetic shoppers, each with a
coherent taste (two related categories, a brand or two, a price band and a colour), weeks of browsing
history that follows that taste, and a few real orders in every status, placed through the checkout.

Deterministic (one seeded random stream per shopper) and idempotent (existing accounts are left alone).
Runs after catalog.demo.seed (settings.DEMO_SEEDERS)."""
import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TextIO

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils import timezone

from catalog import selectors as catalog_selectors
from catalog import services as catalog_services
from catalog.models import Product, ShopperEvent
from shop import services
from shop.errors import ApplicationError
from shop.models import Order, OrderStatus, OrderStatusChange
from shop.payments import TestPaymentProvider
from shop.selectors import Owner

SEED = 20_240_612
SHOPPER_COUNT = 200
SHOPPER_PASSWORD = "aisle-shopper"
HISTORY_DAYS = 42
ADMIN = ("admin", "aisle-admin")
DEMO = ("demo", "aisle-demo")

FIRST_NAMES = ("Aarav", "Ananya", "Diya", "Ishaan", "Kabir", "Meera", "Nikhil", "Priya", "Rohan", "Sara",
               "Tara", "Vihaan", "Zoya", "Arjun", "Kavya", "Neha", "Omar", "Riya", "Siddharth", "Aditi")
LAST_NAMES = ("Sharma", "Iyer", "Khan", "Das", "Reddy", "Menon", "Patel", "Singh", "Bose", "Nair", "Rao", "Gupta")
CITIES = (("Bengaluru", "560001"), ("Mumbai", "400001"), ("New Delhi", "110001"), ("Chennai", "600001"),
          ("Kolkata", "700001"), ("Pune", "411001"), ("Hyderabad", "500001"), ("Jaipur", "302001"))
STREETS = ("MG Road", "Park Street", "Linking Road", "Anna Salai", "Church Street", "FC Road", "Banjara Hills Road")
# How far each demo order gets through its lifecycle, and how often.
ORDER_FATES = (
    (OrderStatus.DELIVERED, 35),
    (OrderStatus.SHIPPED, 20),
    (OrderStatus.PAID, 20),
    (OrderStatus.CANCELLED, 10),
    (OrderStatus.RETURN_REQUESTED, 5),
    (OrderStatus.REFUNDED, 5),
    (OrderStatus.PENDING_PAYMENT, 5),
)
# The demo account shows one order of each kind a visitor wants to try: cancellable, on its way, arrived.
DEMO_FATES = (OrderStatus.PAID, OrderStatus.SHIPPED, OrderStatus.DELIVERED)


@dataclass(frozen=True)
class Taste:
    categories: tuple[int, ...]
    brands: frozenset[str]
    price_band: tuple[Decimal, Decimal]
    colour: str

    def weight(self, product: Product) -> float:
        """How much the shopper likes a product: 0 outside their categories, more for each match."""
        if product.category_id not in self.categories:
            return 0.0
        low, high = self.price_band
        return (
            1.0
            + 3.0 * (product.brand in self.brands)
            + 2.0 * (product.colour.lower() == self.colour)
            + 2.0 * (low <= product.price <= high)
        )


@dataclass
class Stats:
    shoppers: int = 0
    events: int = 0
    orders: int = 0


def seed(*, stdout: TextIO | None = None) -> None:
    """Create the admin, the demo shopper and the synthetic shoppers with their histories and orders."""
    product_ids = catalog_selectors.product_ids(filters=catalog_selectors.ProductFilters(sort="newest"))
    products = sorted(catalog_selectors.products_by_ids(ids=product_ids), key=lambda product: product.pk)
    if not products:
        raise RuntimeError("the demo shoppers need the demo catalog: run catalog.demo.seed first")
    by_category: dict[int, list[Product]] = defaultdict(list)
    for product in products:
        by_category[product.category_id].append(product)
    stats = Stats()
    with transaction.atomic():
        admin = _account(*ADMIN, staff=True, first_name="Aisle", last_name="Admin")
        users = _new_shoppers()
        now = timezone.now()
        for user in users:
            rng = random.Random(f"{SEED}:{user.username}")
            taste = _taste(rng, by_category)
            stats.events += _history(rng, user=user, taste=taste, products=products, now=now)
            order_count = rng.choice((0, 0, 1, 1, 1, 2))
            fates = DEMO_FATES if user.username == DEMO[0] else [_fate(rng) for _ in range(order_count)]
            for fate in fates:
                stats.orders += _order(
                    rng, user=user, admin=admin, taste=taste, by_category=by_category, fate=fate, now=now
                )
        stats.shoppers = len(users)
        # The history was bulk-written with its real timestamps, so the products' counters are recounted.
        catalog_services.product_counters_refresh()
    if stdout is not None:
        stdout.write(
            f"Demo shoppers: {stats.shoppers} created with {stats.events} events and {stats.orders} orders "
            f"(sign in as {DEMO[0]} / {DEMO[1]}, shopper001 / {SHOPPER_PASSWORD}; admin {ADMIN[0]} / {ADMIN[1]}).\n"
        )


def _account(
    username: str, password: str, *, staff: bool = False, first_name: str = "", last_name: str = ""
) -> AbstractBaseUser:
    user_model = get_user_model()
    user = user_model.objects.filter(username=username).first()
    if user is None:
        user = user_model.objects.create_user(
            username=username, email=f"{username}@example.com", password=password, first_name=first_name,
            last_name=last_name, is_staff=staff, is_superuser=staff,
        )
    return user


def _new_shoppers() -> list[AbstractBaseUser]:
    """The demo account and shopper001..shopper200 that do not exist yet, created in one statement."""
    user_model = get_user_model()
    wanted = [DEMO[0]] + [f"shopper{number:03d}" for number in range(1, SHOPPER_COUNT + 1)]
    existing = set(user_model.objects.filter(username__in=wanted).values_list("username", flat=True))
    missing = [name for name in wanted if name not in existing]
    if not missing:
        return []
    # One hash per password, shared: hashing 200 times would take most of a minute for demo accounts.
    hashes = {SHOPPER_PASSWORD: make_password(SHOPPER_PASSWORD), DEMO[1]: make_password(DEMO[1])}
    users = []
    for name in missing:
        rng = random.Random(f"{SEED}:name:{name}")
        users.append(
            user_model(
                username=name,
                email=f"{name}@example.com",
                first_name=rng.choice(FIRST_NAMES),
                last_name=rng.choice(LAST_NAMES),
                password=hashes[DEMO[1] if name == DEMO[0] else SHOPPER_PASSWORD],
            )
        )
    user_model.objects.bulk_create(users)
    return list(user_model.objects.filter(username__in=missing).order_by("username"))


def _taste(rng: random.Random, by_category: dict[int, list[Product]]) -> Taste:
    """Two categories under the same parent when possible (dresses and tops, not dresses and drills), a
    brand or two sold there, a price band and a colour seen there."""
    category_ids = sorted(by_category)
    first = rng.choice(category_ids)
    parent_id = by_category[first][0].category.parent_id
    siblings = [cid for cid in category_ids if cid != first and by_category[cid][0].category.parent_id == parent_id]
    second = rng.choice(siblings or [cid for cid in category_ids if cid != first] or [first])
    in_taste = by_category[first] + by_category[second]
    brands = sorted({product.brand for product in in_taste})
    prices = sorted(product.price for product in in_taste)
    band = rng.choice(("budget", "mid", "premium"))
    cut = {"budget": (0.0, 0.45), "mid": (0.3, 0.75), "premium": (0.55, 1.0)}[band]
    low = prices[int(cut[0] * (len(prices) - 1))]
    high = prices[int(cut[1] * (len(prices) - 1))]
    colours = sorted({product.colour.lower() for product in in_taste if product.colour})
    return Taste(
        categories=(first, second),
        brands=frozenset(rng.sample(brands, k=min(len(brands), rng.choice((1, 2))))),
        price_band=(low, high),
        colour=rng.choice(colours) if colours else "",
    )


def _history(
    rng: random.Random, *, user: AbstractBaseUser, taste: Taste, products: list[Product], now: datetime
) -> int:
    """Browsing sessions over the past weeks: searches, views mostly within the taste (one in ten wanders
    off), some added to the cart, a few bought. Bulk-written oldest first; returns the number of events."""
    liked = [product for product in products if taste.weight(product) > 0]
    weights = [taste.weight(product) for product in liked]
    events = []
    for start in sorted(now - timedelta(days=rng.uniform(1, HISTORY_DAYS)) for _ in range(rng.randint(3, 8))):
        moment = start
        if rng.random() < 0.4:
            favourite = rng.choices(liked, weights=weights)[0]
            query = f"{taste.colour} {favourite.category.name}".strip().lower()
            events.append(ShopperEvent(kind=ShopperEvent.Kind.SEARCH, user=user, query=query, created_at=moment))
        for _ in range(rng.randint(3, 9)):
            moment += timedelta(seconds=rng.randint(20, 240))
            product = rng.choice(products) if rng.random() < 0.1 else rng.choices(liked, weights=weights)[0]
            events.append(ShopperEvent(kind=ShopperEvent.Kind.VIEW, user=user, product=product, created_at=moment))
            if rng.random() < 0.25:
                moment += timedelta(seconds=rng.randint(5, 60))
                events.append(
                    ShopperEvent(kind=ShopperEvent.Kind.ADD_TO_CART, user=user, product=product, created_at=moment)
                )
                if rng.random() < 0.35:
                    moment += timedelta(minutes=rng.randint(2, 15))
                    events.append(
                        ShopperEvent(kind=ShopperEvent.Kind.PURCHASE, user=user, product=product, created_at=moment)
                    )
    ShopperEvent.objects.bulk_create(events, batch_size=1000)
    return len(events)


def _fate(rng: random.Random) -> str:
    statuses, weights = zip(*ORDER_FATES)
    return rng.choices(statuses, weights=weights)[0]


def _order(
    rng: random.Random,
    *,
    user: AbstractBaseUser,
    admin: AbstractBaseUser,
    taste: Taste,
    by_category: dict[int, list[Product]],
    fate: str,
    now: datetime,
) -> int:
    """Place one order of one to three liked products through the checkout, move it to `fate` through the
    lifecycle services and date it in the past weeks. Returns 1, or 0 if nothing liked was in stock."""
    candidates = [product for cid in taste.categories for product in by_category[cid] if product.stock_total > 0]
    if not candidates:
        return 0
    picks = rng.choices(candidates, weights=[taste.weight(product) for product in candidates], k=rng.randint(1, 3))
    cart = services.cart_get_or_create(owner=Owner(user=user))
    for product in dict.fromkeys(picks):
        detail = catalog_selectors.product_detail(slug=product.slug)
        in_stock = [variant for variant in (detail.variants if detail else []) if variant.stock > 0]
        if in_stock:
            services.cart_add_item(cart=cart, sku=rng.choice(in_stock).sku, quantity=1)
    if not cart.items.exists():
        return 0
    city, postcode = rng.choice(CITIES)
    try:
        order, _created = services.order_place(
            cart=cart,
            email=user.email,
            address=services.ShippingAddress(
                name=f"{user.first_name} {user.last_name}".strip() or user.username,
                line1=f"{rng.randint(1, 250)} {rng.choice(STREETS)}",
                city=city,
                postcode=postcode,
            ),
            shipping_method=rng.choice(("standard", "standard", "express")),
            payment_token=(
                TestPaymentProvider.PENDING_CARD if fate == OrderStatus.PENDING_PAYMENT else TestPaymentProvider.SUCCESS_CARD
            ),
            actor=user,
        )
    except ApplicationError:
        return 0  # a demo order that cannot be placed is simply skipped
    _advance(order, fate=fate, user=user, admin=admin)
    if fate != OrderStatus.PENDING_PAYMENT:  # a backdated pending order would only be expired at once
        _backdate(rng, order, now=now)
    return 1


def _advance(order: Order, *, fate: str, user: AbstractBaseUser, admin: AbstractBaseUser) -> None:
    if fate == OrderStatus.CANCELLED:
        services.order_cancel(order=order, actor=user, actor_label="shopper", reason="changed my mind")
        return
    steps = {
        OrderStatus.SHIPPED: 1,
        OrderStatus.DELIVERED: 2,
        OrderStatus.RETURN_REQUESTED: 3,
        OrderStatus.REFUNDED: 4,
    }.get(fate, 0)
    if steps >= 1:
        order = services.order_ship(order=order, actor=admin)
    if steps >= 2:
        order = services.order_deliver(order=order, actor=admin)
    if steps >= 3:
        order = services.order_request_return(order=order, actor=user, actor_label="shopper", reason="did not fit")
    if steps >= 4:
        services.order_refund(order=order, actor=admin)


def _backdate(rng: random.Random, order: Order, *, now: datetime) -> None:
    # Demo data only: spread orders over the past weeks, with a day or two between status changes, so the
    # order history and timelines read like real ones.
    placed = now - timedelta(days=rng.uniform(8, HISTORY_DAYS - 2))
    Order.objects.filter(pk=order.pk).update(created_at=placed, updated_at=placed)
    changes = list(order.status_changes.order_by("created_at", "id"))
    moment = placed
    for change in changes:
        change.created_at = moment
        # A card payment lands seconds after the order; shipping and what follows take hours or days.
        step = timedelta(seconds=rng.uniform(2, 20)) if change.to_status == OrderStatus.PENDING_PAYMENT else None
        moment += step or timedelta(hours=rng.uniform(2, 40))
    OrderStatusChange.objects.bulk_update(changes, ["created_at"])
