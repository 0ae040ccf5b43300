"""Ordering writes: carts, checkout and the order status lifecycle. Each function owns its transaction.

Lock order, everywhere: cart row, then order row, then variant rows in primary-key order (through catalog's
`lock_variants`), then product rows in primary-key order (purchase counters). Taking locks in one fixed order
is what keeps concurrent checkouts and cancellations from deadlocking.
"""
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from catalog import selectors as catalog_selectors
from catalog import services as catalog_services
from catalog.models import ShopperEvent, Variant
from shop.errors import ApplicationError, ConflictError, NotFoundError
from shop.models import Cart, CartItem, Order, OrderLine, OrderStatus, OrderStatusChange
from shop.payments import PaymentStatus, payment_provider
from shop.selectors import Owner, cart_version, variant_label
from shop.shipping import shipping_cost, shipping_method_get


def max_line_quantity() -> int:
    """The most units of one variant a cart line may hold: a typo guard, not a stock rule."""
    return int(getattr(settings, "CART_MAX_LINE_QUANTITY", 99))


# ------------------------------------------------------------------------------------------- accounts


def account_sign_up(*, username: str, email: str, password: str) -> AbstractBaseUser:
    """Create a shopper account. The form has already checked the password against the validators."""
    return get_user_model().objects.create_user(username=username, email=email, password=password)


# ---------------------------------------------------------------------------------------------- carts


def cart_get_or_create(*, owner: Owner) -> Cart:
    """The owner's cart, created on first use. Safe when two requests create it at once."""
    if owner.is_anonymous_without_session:
        raise ValueError("a guest needs a session before they can have a cart")
    lookup = {"user": owner.user} if owner.user is not None else {"session_key": owner.session_key, "user": None}
    cart = Cart.objects.filter(**lookup).first()
    if cart is not None:
        return cart
    try:
        with transaction.atomic():
            return Cart.objects.create(**lookup)
    except IntegrityError:
        # Another request created it between our read and our insert: theirs is the cart.
        return Cart.objects.get(**lookup)


def _cart_lock(cart: Cart) -> Cart:
    return Cart.objects.select_for_update().get(pk=cart.pk)


def _order_lock(order: Order) -> Order:
    # Re-read under the lock: the caller's copy may be stale (another request may have moved the order on).
    return Order.objects.select_for_update().get(pk=order.pk)


def _check_line_quantity(quantity: int) -> None:
    limit = max_line_quantity()
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
        raise ApplicationError(
            "invalid_quantity", "Quantity must be a whole number of at least 1.", fields={"quantity": ["at least 1"]}
        )
    if quantity > limit:
        raise ApplicationError(
            "quantity_too_large",
            f"At most {limit} of one item fit in a cart.",
            fields={"quantity": [f"at most {limit}"]},
        )


def _check_stock(*, variant: Variant, quantity: int) -> None:
    if not variant.is_active or not variant.product.is_active:
        raise ConflictError(
            "variant_unavailable", f"{variant.product.title} is no longer available.", fields={"sku": ["unavailable"]}
        )
    if variant.stock < quantity:
        left = f"only {variant.stock} left" if variant.stock else "out of stock"
        raise ConflictError(
            "insufficient_stock",
            f"Not enough stock for {variant.product.title} ({variant.sku}): {left}.",
            fields={"quantity": [left]},
        )


def cart_add_item(*, cart: Cart, sku: str, quantity: int) -> CartItem:
    """Add `quantity` units of the variant `sku` to the cart (on top of any already there) and record an
    add-to-cart event. Errors: unknown_sku (400), invalid_quantity / quantity_too_large (400),
    variant_unavailable / insufficient_stock (409)."""
    _check_line_quantity(quantity)
    variant = catalog_selectors.variant_by_sku(sku=sku)
    if variant is None:
        raise ApplicationError("unknown_sku", f"There is no product with SKU {sku!r}.", fields={"sku": ["unknown SKU"]})
    with transaction.atomic():
        _cart_lock(cart)
        item = CartItem.objects.filter(cart=cart, variant=variant).first()
        new_quantity = quantity + (item.quantity if item else 0)
        _check_line_quantity(new_quantity)
        _check_stock(variant=variant, quantity=new_quantity)
        if item is None:
            item = CartItem.objects.create(cart=cart, variant=variant, quantity=new_quantity)
        else:
            item.quantity = new_quantity
            item.save(update_fields=["quantity"])
        Cart.objects.filter(pk=cart.pk).update(updated_at=timezone.now())
        catalog_services.event_record(
            kind=ShopperEvent.Kind.ADD_TO_CART, user=cart.user, session_key=cart.session_key or "", product=variant.product
        )
    return item


def _cart_item(*, cart: Cart, item_id: int) -> CartItem:
    item = CartItem.objects.select_related("variant__product").filter(cart=cart, pk=item_id).first()
    if item is None:
        raise NotFoundError("cart_item_not_found", f"Item {item_id} is not in your cart.")
    return item


def cart_update_item(*, cart: Cart, item_id: int, quantity: int) -> CartItem:
    """Set a cart line's quantity. Errors as for cart_add_item, and cart_item_not_found (404) for a line
    that is not in this cart."""
    _check_line_quantity(quantity)
    with transaction.atomic():
        _cart_lock(cart)
        item = _cart_item(cart=cart, item_id=item_id)
        _check_stock(variant=item.variant, quantity=quantity)
        item.quantity = quantity
        item.save(update_fields=["quantity"])
        Cart.objects.filter(pk=cart.pk).update(updated_at=timezone.now())
    return item


def cart_remove_item(*, cart: Cart, item_id: int) -> None:
    """Remove a line from the cart; cart_item_not_found (404) when it is not in this cart."""
    with transaction.atomic():
        _cart_lock(cart)
        _cart_item(cart=cart, item_id=item_id).delete()
        Cart.objects.filter(pk=cart.pk).update(updated_at=timezone.now())


def cart_merge(*, user: AbstractBaseUser, session_key: str | None) -> Cart | None:
    """Fold the guest cart of `session_key` into the user's cart when they sign in: quantities add up,
    capped at stock and at the line limit; lines with nothing left to buy are dropped. The guest cart is
    deleted. Returns the user's cart, or None when there was nothing to merge."""
    if not session_key:
        return None
    with transaction.atomic():
        guest = Cart.objects.select_for_update().filter(session_key=session_key, user__isnull=True).first()
        if guest is None:
            return None
        guest_items = list(guest.items.select_related("variant__product"))
        cart = cart_get_or_create(owner=Owner(user=user))
        _cart_lock(cart)
        existing = {item.variant_id: item for item in cart.items.all()}
        for guest_item in guest_items:
            variant = guest_item.variant
            current = existing.get(variant.pk)
            wanted = guest_item.quantity + (current.quantity if current else 0)
            buyable = variant.stock if variant.is_active and variant.product.is_active else 0
            quantity = min(wanted, buyable, max_line_quantity())
            if current is not None:
                if quantity != current.quantity and quantity > 0:
                    current.quantity = quantity
                    current.save(update_fields=["quantity"])
            elif quantity > 0:
                CartItem.objects.create(cart=cart, variant=variant, quantity=quantity)
        guest.delete()
    return cart


# ------------------------------------------------------------------------------------------- checkout


@dataclass(frozen=True)
class ShippingAddress:
    name: str
    line1: str
    city: str
    postcode: str
    country: str = "IN"
    line2: str = ""
    phone: str = ""


def _owner_of(cart: Cart) -> Owner:
    return Owner(user=cart.user) if cart.user_id else Owner(session_key=cart.session_key)


def _order_for_key(*, owner_key: str, idempotency_key: str) -> Order | None:
    if not idempotency_key:
        return None
    return Order.objects.filter(owner_key=owner_key, idempotency_key=idempotency_key).first()


def _actor_label(actor: AbstractBaseUser | None, actor_label: str) -> str:
    if actor_label:
        return actor_label
    if actor is None:
        return "system"
    return "staff" if actor.is_staff else "shopper"


def order_place(
    *,
    cart: Cart,
    email: str,
    address: ShippingAddress,
    shipping_method: str,
    payment_token: str,
    idempotency_key: str = "",
    expected_cart_version: str = "",
    actor: AbstractBaseUser | None = None,
) -> tuple[Order, bool]:
    """Turn the cart into an order in one transaction: reserve stock, copy current prices onto the lines,
    add shipping, charge the payment provider, empty the cart and record purchase events.

    Returns (order, created). The same `idempotency_key` from the same owner returns the order it made the
    first time, with created=False, also when both requests race. Errors: cart_empty (400),
    cart_changed (409) when `expected_cart_version` no longer matches, invalid_shipping_method (400),
    variant_unavailable / insufficient_stock (409), card_declined / invalid_card (402)."""
    owner_key = _owner_of(cart).key
    earlier = _order_for_key(owner_key=owner_key, idempotency_key=idempotency_key)
    if earlier is not None:
        return earlier, False
    method = shipping_method_get(code=shipping_method)
    try:
        with transaction.atomic():
            # Checkouts of one cart queue here; the one that waited then sees the order the first one made.
            _cart_lock(cart)
            earlier = _order_for_key(owner_key=owner_key, idempotency_key=idempotency_key)
            if earlier is not None:
                return earlier, False
            order = _order_create(
                cart=cart,
                owner_key=owner_key,
                email=email,
                address=address,
                method_code=method.code,
                idempotency_key=idempotency_key,
                expected_cart_version=expected_cart_version,
                actor=actor,
            )
            _order_charge(order=order, payment_token=payment_token)
            cart.items.all().delete()
            _purchase_events_record(order=order, cart=cart)
    except IntegrityError:
        # The last line of defence: whatever duplicate got past the cart lock, the unique (owner, key)
        # constraint stopped it, and the order the other request made is the answer.
        earlier = _order_for_key(owner_key=owner_key, idempotency_key=idempotency_key)
        if earlier is None:
            raise
        return earlier, False
    return order, True


def _order_create(
    *,
    cart: Cart,
    owner_key: str,
    email: str,
    address: ShippingAddress,
    method_code: str,
    idempotency_key: str,
    expected_cart_version: str,
    actor: AbstractBaseUser | None,
) -> Order:
    items = list(cart.items.order_by("variant_id"))
    if not items:
        raise ApplicationError("cart_empty", "Your cart is empty.")
    variants = catalog_services.stock_reserve(quantities={item.variant_id: item.quantity for item in items})
    # Priced from the locked rows, so the price charged is the price at the moment stock was taken.
    current_version = cart_version(
        priced_items=[(item.variant_id, item.quantity, variants[item.variant_id].price) for item in items]
    )
    if expected_cart_version and expected_cart_version != current_version:
        raise ConflictError(
            "cart_changed",
            "Your cart changed since you reviewed it (items or prices). Please check it and place the order again.",
            fields={"cart_version": [f"current version is {current_version}"]},
        )
    lines = []
    for item in items:
        variant = variants[item.variant_id]
        lines.append(
            OrderLine(
                variant=variant,
                product_title=variant.product.title,
                product_slug=variant.product.slug,
                sku=variant.sku,
                variant_label=variant_label(variant),
                unit_price=variant.price,
                quantity=item.quantity,
                line_total=variant.price * item.quantity,
            )
        )
    subtotal = sum((line.line_total for line in lines), Decimal("0.00"))
    shipping = shipping_cost(method=shipping_method_get(code=method_code), subtotal=subtotal)
    order = Order.objects.create(
        user=cart.user,
        email=email,
        idempotency_key=idempotency_key,
        owner_key=owner_key,
        shipping_name=address.name,
        shipping_line1=address.line1,
        shipping_line2=address.line2,
        shipping_city=address.city,
        shipping_postcode=address.postcode,
        shipping_country=address.country,
        shipping_phone=address.phone,
        shipping_method=method_code,
        subtotal=subtotal,
        shipping_cost=shipping,
        total=subtotal + shipping,
        currency=lines[0].variant.product.currency,
    )
    for line in lines:
        line.order = order
    OrderLine.objects.bulk_create(lines)
    _status_change_record(order=order, from_status="", actor=actor, actor_label="shopper", note="order placed")
    return order


def _order_charge(*, order: Order, payment_token: str) -> None:
    # Inside the checkout transaction on purpose (see shop.payments): a decline rolls the order back.
    result = payment_provider().charge(
        amount=order.total, currency=order.currency, token=payment_token, reference=order.number
    )
    order.payment_reference = result.reference
    if result.status == PaymentStatus.SUCCEEDED:
        order.status = OrderStatus.PAID
        order.save(update_fields=["payment_reference", "status", "updated_at"])
        _status_change_record(
            order=order,
            from_status=OrderStatus.PENDING_PAYMENT,
            actor=None,
            actor_label="payment provider",
            note="payment received",
        )
    else:
        order.save(update_fields=["payment_reference", "updated_at"])


def _purchase_events_record(*, order: Order, cart: Cart) -> None:
    # Each purchase event bumps its product's counter row, so products are touched in primary-key order
    # like every other lock in checkout.
    lines = order.lines.select_related("variant__product")
    products = {line.variant.product.pk: line.variant.product for line in lines}
    for product_id in sorted(products):
        catalog_services.event_record(
            kind=ShopperEvent.Kind.PURCHASE, user=cart.user, session_key=cart.session_key or "", product=products[product_id]
        )


# ------------------------------------------------------------------------------------ order lifecycle

# Which status may follow which. Everything else is an invalid transition.
ORDER_TRANSITIONS: dict[str, frozenset[str]] = {
    OrderStatus.PENDING_PAYMENT: frozenset({OrderStatus.PAID, OrderStatus.CANCELLED}),
    OrderStatus.PAID: frozenset({OrderStatus.SHIPPED, OrderStatus.CANCELLED}),
    OrderStatus.SHIPPED: frozenset({OrderStatus.DELIVERED}),
    OrderStatus.DELIVERED: frozenset({OrderStatus.RETURN_REQUESTED}),
    OrderStatus.RETURN_REQUESTED: frozenset({OrderStatus.REFUNDED}),
    OrderStatus.CANCELLED: frozenset(),
    OrderStatus.REFUNDED: frozenset(),
}


def order_can_transition(*, order: Order, to_status: str) -> bool:
    """Whether `order` may move to `to_status` now (what pages use to show or hide a button)."""
    return to_status in ORDER_TRANSITIONS.get(order.status, frozenset())


def _status_change_record(
    *, order: Order, from_status: str, actor: AbstractBaseUser | None, actor_label: str, note: str = ""
) -> None:
    OrderStatusChange.objects.create(
        order=order,
        from_status=from_status,
        to_status=order.status,
        actor=actor if actor is not None and actor.is_authenticated else None,
        actor_label=actor_label[:60],
        note=note[:255],
    )


def _order_transition(
    *,
    order: Order,
    to_status: str,
    actor: AbstractBaseUser | None,
    actor_label: str,
    note: str = "",
    changes: dict[str, object] | None = None,
) -> Order:
    """Lock the order row, check the move is allowed from its current (not cached) status, apply it and
    record it. Runs inside the caller's transaction."""
    locked = _order_lock(order)
    if not order_can_transition(order=locked, to_status=to_status):
        raise ConflictError(
            "invalid_transition",
            f"Order {locked.number} is {locked.get_status_display().lower()} and cannot become "
            f"{OrderStatus(to_status).label.lower()}.",
            fields={"status": [locked.status]},
        )
    from_status = locked.status
    locked.status = to_status
    for name, value in (changes or {}).items():
        setattr(locked, name, value)
    locked.save()
    _status_change_record(
        order=locked, from_status=from_status, actor=actor, actor_label=_actor_label(actor, actor_label), note=note
    )
    return locked


def _refund(order: Order) -> str:
    if not order.payment_reference:
        return ""
    return payment_provider().refund(
        payment_reference=order.payment_reference, amount=order.total, currency=order.currency
    )


def order_mark_paid(
    *, order: Order, payment_reference: str = "", actor: AbstractBaseUser | None = None, actor_label: str = ""
) -> Order:
    """pending_payment -> paid, when a pending payment is confirmed."""
    changes = {"payment_reference": payment_reference} if payment_reference else {}
    with transaction.atomic():
        return _order_transition(
            order=order,
            to_status=OrderStatus.PAID,
            actor=actor,
            actor_label=actor_label,
            note="payment received",
            changes=changes,
        )


def order_ship(
    *, order: Order, tracking_number: str = "", actor: AbstractBaseUser | None = None, actor_label: str = ""
) -> Order:
    """paid -> shipped with a tracking number; without a carrier's number an internal one is issued."""
    tracking = tracking_number.strip() or f"AIS{secrets.randbelow(10**10):010d}"
    with transaction.atomic():
        return _order_transition(
            order=order,
            to_status=OrderStatus.SHIPPED,
            actor=actor,
            actor_label=actor_label,
            note=f"tracking number {tracking}",
            changes={"tracking_number": tracking},
        )


def order_deliver(*, order: Order, actor: AbstractBaseUser | None = None, actor_label: str = "") -> Order:
    """shipped -> delivered."""
    with transaction.atomic():
        return _order_transition(order=order, to_status=OrderStatus.DELIVERED, actor=actor, actor_label=actor_label)


def order_cancel(
    *, order: Order, actor: AbstractBaseUser | None = None, actor_label: str = "", reason: str = ""
) -> Order:
    """pending_payment or paid -> cancelled: the stock goes back and a payment taken is refunded."""
    with transaction.atomic():
        cancelled = _order_transition(
            order=order, to_status=OrderStatus.CANCELLED, actor=actor, actor_label=actor_label, note=reason or "cancelled"
        )
        quantities: dict[int, int] = {}
        for line in cancelled.lines.filter(variant__isnull=False):
            quantities[line.variant_id] = quantities.get(line.variant_id, 0) + line.quantity
        if quantities:
            catalog_services.stock_release(quantities=quantities)
        _refund(cancelled)
    return cancelled


def order_request_return(
    *, order: Order, actor: AbstractBaseUser | None = None, actor_label: str = "", reason: str = ""
) -> Order:
    """delivered -> return_requested."""
    with transaction.atomic():
        return _order_transition(
            order=order,
            to_status=OrderStatus.RETURN_REQUESTED,
            actor=actor,
            actor_label=actor_label,
            note=reason or "return requested",
        )


def order_refund(*, order: Order, actor: AbstractBaseUser | None = None, actor_label: str = "") -> Order:
    """return_requested -> refunded: the payment goes back. Stock is not restored here: returned goods are
    inspected before they are sold again, and staff put them back in stock in the catalog admin."""
    with transaction.atomic():
        refunded = _order_transition(order=order, to_status=OrderStatus.REFUNDED, actor=actor, actor_label=actor_label)
        _refund(refunded)
    return refunded


ADDRESS_CHANGEABLE_STATUSES = frozenset({OrderStatus.PENDING_PAYMENT, OrderStatus.PAID})


def order_change_shipping_address(
    *, order: Order, address: ShippingAddress, actor: AbstractBaseUser | None = None, actor_label: str = ""
) -> Order:
    """Change where an order goes, only before it ships; the change is kept in the status history.
    Error: address_locked (409) once shipped or closed."""
    with transaction.atomic():
        locked = _order_lock(order)
        if locked.status not in ADDRESS_CHANGEABLE_STATUSES:
            raise ConflictError(
                "address_locked",
                f"Order {locked.number} is {locked.get_status_display().lower()}; its address can no longer change.",
                fields={"status": [locked.status]},
            )
        locked.shipping_name = address.name
        locked.shipping_line1 = address.line1
        locked.shipping_line2 = address.line2
        locked.shipping_city = address.city
        locked.shipping_postcode = address.postcode
        locked.shipping_country = address.country
        locked.shipping_phone = address.phone
        locked.save()
        _status_change_record(
            order=locked,
            from_status=locked.status,
            actor=actor,
            actor_label=_actor_label(actor, actor_label),
            note="shipping address changed",
        )
    return locked


def orders_expire_unpaid(*, now: datetime | None = None) -> int:
    """Cancel orders still pending payment after settings.ORDER_UNPAID_EXPIRY_MINUTES, releasing their
    stock. Each order is cancelled in its own transaction, so one failure does not undo the others, and an
    order paid meanwhile is left alone. Returns how many were cancelled."""
    minutes = int(getattr(settings, "ORDER_UNPAID_EXPIRY_MINUTES", 30))
    cutoff = (now or timezone.now()) - timedelta(minutes=minutes)
    stale = Order.objects.filter(status=OrderStatus.PENDING_PAYMENT, created_at__lt=cutoff).values_list("pk", flat=True)
    cancelled = 0
    for order in Order.objects.filter(pk__in=list(stale)):
        try:
            order_cancel(order=order, actor=None, actor_label="system", reason="payment not received in time")
        except ConflictError:
            continue  # paid or cancelled since we listed it
        cancelled += 1
    return cancelled
