from django.core.cache import cache
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

NAV_CACHE_KEY = "storefront:nav-categories"
NAV_CACHE_SECONDS = 300  # the top-level categories change rarely; five minutes stale is harmless


def _nav_categories() -> list:
    from catalog.selectors import category_tree

    categories = cache.get(NAV_CACHE_KEY)
    if categories is None:
        categories = [node.category for node in category_tree().roots]
        cache.set(NAV_CACHE_KEY, categories, NAV_CACHE_SECONDS)
    return categories


def storefront(request: HttpRequest) -> dict:
    """Values every storefront page needs: the shop's name, the category bar and the cart badge count.
    Catalog pages pass their own nav_categories (already loaded), which take precedence over these."""
    from shop.selectors import cart_item_count

    return {
        "shop_name": "Aisle",
        "nav_categories": SimpleLazyObject(_nav_categories),
        "cart_count": SimpleLazyObject(lambda: cart_item_count(request=request)),
    }
