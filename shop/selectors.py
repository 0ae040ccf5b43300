"""Ordering reads: who the shopper is, their cart with live prices, and their orders."""
import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import IntegerField, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.http import HttpRequest

from catalog.models import Variant
from shop.errors import NotFoundError
from shop.models import Cart, CartItem, Order, OrderStatus

DEFAULT_CURRENCY = "INR"


@dataclass(frozen=True)
class Owner:
    """Whose cart and orders a request reaches: a signed-in user, else the guest's session."""

    user: AbstractBaseUser | None = None
    session_key: str | None = None

    @property
    def key(self) -> str:
        """The order's owner_key: idempotency keys are unique per owner."""
        if self.user is not None:
            return f"user:{self.user.pk}"
        return f"session:{self.session_key}" if self.session_key else ""

    @property
    def is_anonymous_without_session(self) -> bool:
        return self.user is None and not self.session_key


def owner_from_request(request: HttpRequest, *, create_session: bool = False) -> Owner:
    """The request's owner. A guest session is only created when asked (a write is about to need it), so
    reading a page never creates one."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return Owner(user=user)
    if create_session and not request.session.session_key:
        request.session.create()
    return Owner(session_key=request.session.session_key)


def _cart_filter(owner: Owner) -> dict:
    if owner.user is not None:
        return {"user": owner.user}
    return {"session_key": owner.session_key, "user__isnull": True}


def cart_item_count(*, request: HttpRequest) -> int:
    """Units in the request's cart, for the header badge: one query, none for a visitor without a session."""
    owner = owner_from_request(request)
    if owner.is_anonymous_without_session:
        return 0
    lookup = {f"cart__{name}": value for name, value in _cart_filter(owner).items()}
    total = CartItem.objects.filter(**lookup).aggregate(units=Sum("quantity"))["units"]
    return total or 0


def cart_for_owner(*, owner: Owner) -> Cart | None:
    """The owner's cart, if they have one."""
    if owner.is_anonymous_without_session:
        return None
    return Cart.objects.filter(**_cart_filter(owner)).first()


@dataclass(frozen=True)
class CartLine:
    item: CartItem
    unit_price: Decimal
    line_total: Decimal

    @property
    def variant_label(self) -> str:
        return variant_label(self.item.variant)

    @property
    def is_available(self) -> bool:
        """Whether the line can be bought as it stands."""
        variant = self.item.variant
        return variant.is_active and variant.product.is_active and variant.stock >= self.item.quantity


@dataclass(frozen=True)
class CartSummary:
    cart: Cart | None
    lines: list[CartLine] = field(default_factory=list)
    subtotal: Decimal = Decimal("0.00")
    item_count: int = 0
    currency: str = DEFAULT_CURRENCY
    # A fingerprint of what is in the cart at which prices. Checkout compares the version the shopper saw
    # with the current one, so an item added in another tab or a price change is never bought unseen.
    version: str = ""

    @property
    def is_empty(self) -> bool:
        return not self.lines

    @property
    def has_unavailable_lines(self) -> bool:
        return any(not line.is_available for line in self.lines)


def variant_label(variant: Variant) -> str:
    """"Red / M" for a variant with colour and size; empty when it has neither."""
    return " / ".join(part for part in (variant.colour, variant.size) if part)


def cart_version(*, priced_items: list[tuple[int, int, Decimal]]) -> str:
    """The fingerprint of (variant id, quantity, unit price) triples, order-independent."""
    canonical = ";".join(f"{vid}:{qty}:{price}" for vid, qty, price in sorted(priced_items))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def cart_summary(*, cart: Cart | None) -> CartSummary:
    """The cart's lines priced at the variants' current prices, with totals; two queries at most, however
    many items."""
    if cart is None:
        return CartSummary(cart=None, version=cart_version(priced_items=[]))
    items = list(cart.items.select_related("variant__product"))
    lines = [
        CartLine(item=item, unit_price=item.variant.price, line_total=item.variant.price * item.quantity)
        for item in items
    ]
    return CartSummary(
        cart=cart,
        lines=lines,
        subtotal=sum((line.line_total for line in lines), Decimal("0.00")),
        item_count=sum(item.quantity for item in items),
        currency=items[0].variant.product.currency if items else DEFAULT_CURRENCY,
        version=cart_version(priced_items=[(item.variant_id, item.quantity, item.variant.price) for item in items]),
    )


def _orders_with_item_count() -> QuerySet[Order]:
    # Explicit order: Django drops Meta.ordering from aggregating (GROUP BY) queries.
    return Order.objects.annotate(
        item_count=Coalesce(Sum("lines__quantity"), 0, output_field=IntegerField())
    ).order_by("-created_at", "-id")


def order_list_for_user(*, user: AbstractBaseUser) -> QuerySet[Order]:
    """The user's orders, newest first, each annotated with `item_count`; one query whatever their number."""
    return _orders_with_item_count().filter(user=user)


def order_list_for_owner(*, owner: Owner) -> QuerySet[Order]:
    """The owner's orders (a guest sees the ones placed in their session), newest first, with `item_count`."""
    if owner.user is not None:
        return order_list_for_user(user=owner.user)
    if not owner.session_key:
        return Order.objects.none()
    return _orders_with_item_count().filter(owner_key=owner.key, user__isnull=True)


def order_get_for_owner(*, number: str, owner: Owner) -> Order:
    """One of the owner's orders with its lines and status history. Raises NotFoundError, also for an order
    that exists but belongs to someone else, so order numbers cannot be probed."""
    normalized = number.strip().upper()
    if owner.user is not None:
        orders = Order.objects.filter(user=owner.user)
    elif owner.session_key:
        orders = Order.objects.filter(owner_key=owner.key, user__isnull=True)
    else:
        orders = Order.objects.none()
    order = orders.prefetch_related("lines", "status_changes").filter(number=normalized).first()
    if order is None:
        raise NotFoundError("order_not_found", f"No order {normalized} was found in your account.")
    return order


def order_get_for_guest(*, number: str, email: str) -> Order | None:
    """The order with this number and this e-mail on it (case-insensitive), for a guest proving an order is
    theirs without signing in; None otherwise. A wrong number and a wrong e-mail are the same miss: one
    query of the same shape either way and the same None, so the answer never tells which half was wrong."""
    normalized_number, normalized_email = number.strip().upper(), email.strip()
    if not normalized_number or not normalized_email:
        return None
    return (
        Order.objects.filter(number=normalized_number, email__iexact=normalized_email)
        .prefetch_related("lines", "status_changes")
        .first()
    )


def order_get_for_invoice(*, number: str, user: AbstractBaseUser) -> Order:
    """An order with its lines, for its invoice: the signed-in user's own, or any order for staff. Raises
    NotFoundError otherwise, the same as for a number that does not exist."""
    normalized = number.strip().upper()
    orders = Order.objects.all() if user.is_staff else Order.objects.filter(user=user)
    order = orders.prefetch_related("lines", "status_changes").filter(number=normalized).first()
    if order is None:
        raise NotFoundError("order_not_found", f"No order {normalized} was found in your account.")
    return order


def order_paid_at(*, order: Order) -> datetime | None:
    """When the order was paid (its first change to "paid"), or None; reads the prefetched status history."""
    return next((c.created_at for c in order.status_changes.all() if c.to_status == OrderStatus.PAID), None)
