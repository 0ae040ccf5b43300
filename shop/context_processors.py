from django.http import HttpRequest


def storefront(request: HttpRequest) -> dict:
    """Values every storefront page needs: the shop's name and the cart badge count."""
    from shop.selectors import cart_item_count

    return {"shop_name": "Aisle", "cart_count": cart_item_count(request=request)}
