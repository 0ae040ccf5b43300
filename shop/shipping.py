"""Shipping methods and their prices. Standard shipping is free from a subtotal threshold up."""
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings

from shop.errors import ApplicationError


@dataclass(frozen=True)
class ShippingMethod:
    code: str
    label: str
    delivery_estimate: str
    price: Decimal


SHIPPING_METHODS: dict[str, ShippingMethod] = {
    method.code: method
    for method in (
        ShippingMethod("standard", "Standard delivery", "3-5 working days", Decimal("99.00")),
        ShippingMethod("express", "Express delivery", "1-2 working days", Decimal("249.00")),
    )
}
DEFAULT_SHIPPING_METHOD = "standard"


def free_shipping_threshold() -> Decimal:
    return Decimal(str(getattr(settings, "FREE_SHIPPING_THRESHOLD", "1499.00")))


def shipping_method_get(*, code: str) -> ShippingMethod:
    """The method called `code`; an unknown code is a client error naming the valid ones."""
    try:
        return SHIPPING_METHODS[code]
    except KeyError:
        choices = ", ".join(SHIPPING_METHODS)
        raise ApplicationError(
            "invalid_shipping_method",
            f"Unknown shipping method {code!r}; choose one of: {choices}.",
            fields={"shipping_method": [f"choose one of: {choices}"]},
        ) from None


def shipping_cost(*, method: ShippingMethod, subtotal: Decimal) -> Decimal:
    """What `method` costs for a cart worth `subtotal`."""
    if method.code == "standard" and subtotal >= free_shipping_threshold():
        return Decimal("0.00")
    return method.price


@dataclass(frozen=True)
class ShippingOption:
    method: ShippingMethod
    cost: Decimal


def shipping_options(*, subtotal: Decimal) -> list[ShippingOption]:
    """Every method with its cost for this subtotal, in display order."""
    return [ShippingOption(method, shipping_cost(method=method, subtotal=subtotal)) for method in SHIPPING_METHODS.values()]
