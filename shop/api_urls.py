"""Ordering endpoints under /api/ (DESIGN.md, "REST API")."""
from django.urls import path
from rest_framework.authtoken.views import obtain_auth_token

from shop import api

app_name = "shop-api"

urlpatterns = [
    path("cart/", api.CartApi.as_view(), name="cart"),
    path("cart/items/", api.CartItemsApi.as_view(), name="cart-items"),
    path("cart/items/<int:item_id>/", api.CartItemApi.as_view(), name="cart-item"),
    path("checkout/", api.CheckoutApi.as_view(), name="checkout"),
    path("orders/", api.OrderListApi.as_view(), name="order-list"),
    path("orders/<str:number>/", api.OrderDetailApi.as_view(), name="order-detail"),
    path("orders/<str:number>/cancel/", api.OrderCancelApi.as_view(), name="order-cancel"),
    path("auth/token/", obtain_auth_token, name="auth-token"),
]
