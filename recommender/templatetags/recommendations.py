"""`{% load recommendations %}` then `{% recommendations "home" %}`, `{% recommendations "product" product=product %}`
or `{% recommendations "cart" %}`: the storefront blocks, rendered into a page's reco-slot region.

A page never errors because of recommendations: any failure is logged and the tag renders nothing (the slot's
:empty style then hides it)."""
import logging
from typing import Any

from django import template

from catalog.models import Product
from recommender import selectors

logger = logging.getLogger(__name__)
register = template.Library()


@register.inclusion_tag("recommender/blocks.html", takes_context=True)
def recommendations(context: template.Context, page: str, product: Product | None = None, limit: int = 8) -> dict[str, Any]:
    request = context.get("request")
    blocks: list[selectors.RecommendationBlock] = []
    if request is not None and page in selectors.CONTEXT_BLOCKS:
        try:
            blocks = selectors.recommendations_for(request=request, context=page, product=product, limit=limit)
        except Exception:
            logger.exception("recommendations for %s failed; rendering none", page)
    return {"blocks": blocks, "page": page}
