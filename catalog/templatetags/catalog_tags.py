"""Storefront template helpers: the product placeholder image, prices, stock wording, and hidden inputs that
carry the current filters through the sort form."""
from __future__ import annotations

import functools
import hashlib
import re
from decimal import Decimal
from typing import Any

from django import template
from django.http import QueryDict
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from catalog.models import Product
from catalog.selectors import low_stock_threshold

register = template.Library()

# Swatches for the colour names catalogs use; unknown names get a stable colour from their hash.
_COLOURS = {
    "black": "#2b2b2e", "white": "#f1f1ee", "grey": "#8d9096", "gray": "#8d9096", "charcoal": "#45484d",
    "silver": "#b9bcc2", "blue": "#3563b0", "navy": "#1f2f5c", "teal": "#1f7a7a", "turquoise": "#33a7a8",
    "green": "#3f8a4e", "olive": "#6b7233", "khaki": "#a79c6d", "yellow": "#e8c547", "mustard": "#c99a2e",
    "gold": "#c9a13b", "orange": "#e07b39", "peach": "#f0b596", "red": "#c23b3b", "maroon": "#7a2431",
    "burgundy": "#6d1f33", "pink": "#e58fb0", "rose": "#d9778f", "magenta": "#b8388a", "purple": "#6e4a9e",
    "lavender": "#b3a2d9", "brown": "#7b5234", "tan": "#c19a6b", "beige": "#d9c7a7", "cream": "#efe6cf",
    "bronze": "#9c6b30", "platinum": "#d5d3cc", "copper": "#b06a3b", "matte": "#5c5a57",
}
_SYMBOLS = {"INR": "₹", "USD": "$", "EUR": "€", "GBP": "£"}


def _swatch(colour: str) -> str:
    name = colour.strip().lower()
    for word in re.split(r"[\s/&-]+", name):
        if word in _COLOURS:
            return _COLOURS[word]
    digest = hashlib.md5(name.encode()).digest()  # not security: a stable hue per unknown name
    hue = digest[0] * 360 // 256
    return f"hsl({hue}, 38%, 52%)"


def _hex_luminance(colour: str) -> float:
    if not colour.startswith("#"):
        return 0.4  # the hsl() fallbacks are mid-tones: white text reads well on them
    r, g, b = (int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _product_type(product: Product) -> str:
    kind = (product.attributes or {}).get("type") if isinstance(product.attributes, dict) else None
    return str(kind or product.category.name)


@register.simple_tag
def placeholder(product: Product, *, decorative: bool = False, css_class: str = "product-media") -> SafeString:
    """A tidy inline SVG standing in for a product photo: a swatch of the product's colour on a light tint,
    the initials of its type ("Trolley Bags" -> "TB") and the type's name. No image files are needed."""
    label = None if decorative else f"{product.title} (illustration)"
    return _placeholder_svg(product.colour or product.title, _product_type(product), label, css_class)


# A listing draws one per card, and most cards share a colour and a type with many others: the drawing is
# kept per (colour, type, label, class) rather than escaped and assembled again each time.
@functools.lru_cache(maxsize=4096)
def _placeholder_svg(colour: str, kind: str, label: str | None, css_class: str) -> SafeString:
    swatch = _swatch(colour)
    ink = "#1d1d1f" if _hex_luminance(swatch) > 0.6 else "#ffffff"
    initials = "".join(word[0] for word in re.split(r"[\s-]+", kind) if word[:1].isalnum())[:2].upper() or "?"
    if label is None:
        accessibility = mark_safe('aria-hidden="true" focusable="false"')
    else:
        accessibility = format_html('role="img" aria-label="{}"', label)
    return format_html(
        '<svg class="{}" viewBox="0 0 300 400" xmlns="http://www.w3.org/2000/svg" {}>'
        '<rect width="300" height="400" fill="{}" opacity="0.16"/>'
        '<rect width="300" height="400" fill="#ffffff" opacity="0.55"/>'
        '<circle cx="150" cy="180" r="86" fill="{}"/>'
        '<text x="150" y="180" dy="0.35em" text-anchor="middle" font-family="system-ui, sans-serif" '
        'font-size="64" font-weight="700" fill="{}">{}</text>'
        '<text x="150" y="330" text-anchor="middle" font-family="system-ui, sans-serif" font-size="20" '
        'fill="#4a4a4f">{}</text></svg>',
        css_class, accessibility, swatch, swatch, ink, initials, kind[:28],
    )


@register.filter
def money(amount: Decimal | int | None, currency: str = "INR") -> str:
    """1499 -> "₹1,499"; 1499.5 -> "₹1,499.50"."""
    if amount is None:
        return ""
    value = Decimal(amount)
    text = f"{value:,.0f}" if value == value.to_integral_value() else f"{value:,.2f}"
    symbol = _SYMBOLS.get(currency)
    return f"{symbol}{text}" if symbol else f"{currency} {text}"


@register.filter
def stock_label(units: int) -> str:
    if units <= 0:
        return "Out of stock"
    return f"Only {units} left" if units <= low_stock_threshold() else "In stock"


@register.filter
def stock_class(units: int) -> str:
    if units <= 0:
        return "out-of-stock"
    return "low-stock" if units <= low_stock_threshold() else "in-stock"


@register.simple_tag(takes_context=True)
def hidden_query_inputs(context: dict[str, Any], exclude: str = "") -> SafeString:
    """Hidden inputs repeating the current query string (minus `exclude`, space-separated names), so a
    second GET form on the page (sorting) keeps the filters."""
    request = context.get("request")
    query: QueryDict = request.GET if request is not None else QueryDict()
    skipped = set(exclude.split())
    pairs = ((name, value) for name, values in query.lists() if name not in skipped for value in values)
    return format_html_join("", '<input type="hidden" name="{}" value="{}">', pairs)
