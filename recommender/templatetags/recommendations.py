"""`{% load recommendations %}` then `{% recommendations "home" %}`, `{% recommendations "product" product=product %}`
or `{% recommendations "cart" %}`: the storefront blocks, rendered into a page's reco-slot region.

A page never errors because of recommendations: any failure is logged and the tag renders nothing (the slot's
:empty style then hides it)."""
import logging

from django import template
from django.template.loader import render_to_string

from catalog.models import Product
from catalog.selectors import catalog_cached
from recommender import selectors

logger = logging.getLogger(__name__)
register = template.Library()


@register.simple_tag(takes_context=True)
def recommendations(context: template.Context, page: str, product: Product | None = None, limit: int = 8) -> str:
    request = context.get("request")
    if request is None or page not in selectors.CONTEXT_BLOCKS:
        return ""
    try:
        shopper = selectors.shopper_context(request=request, anchor=product, with_cart=page == "cart")

        def render() -> str:
            blocks = selectors.blocks_for(shopper=shopper, context=page, limit=limit)
            return render_to_string("recommender/blocks.html", {"blocks": blocks, "page": page})

        if not selectors.shopper_is_unknown(shopper):
            return render()
        # Every unknown shopper sees the same blocks on this page: rendered once, cached with the catalog.
        return catalog_cached(key=f"reco-html:{page}:{shopper.anchor}:{limit}", compute=render)
    except Exception:
        logger.exception("recommendations for %s failed; rendering none", page)
        return ""
