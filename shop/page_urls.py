"""Storefront pages for the cart, checkout, orders and accounts (namespace "shop")."""
from django.contrib.auth import views as auth_views
from django.urls import path

from shop import views

app_name = "shop"

urlpatterns = [
    path("cart/", views.cart_view, name="cart"),
    path("cart/add/", views.cart_add, name="cart-add"),
    path("cart/items/<int:item_id>/update/", views.cart_update, name="cart-update"),
    path("cart/items/<int:item_id>/remove/", views.cart_remove, name="cart-remove"),
    path("checkout/", views.checkout, name="checkout"),
    path("checkout/done/<str:number>/", views.order_confirmation, name="order-confirmation"),
    path("account/orders/", views.order_list, name="order-list"),
    path("account/orders/<str:number>/", views.order_detail, name="order-detail"),
    path("account/orders/<str:number>/invoice/", views.order_invoice, name="order-invoice"),
    path("account/orders/<str:number>/cancel/", views.order_cancel, name="order-cancel"),
    path("account/signup/", views.signup, name="signup"),
    path("account/login/", views.LoginView.as_view(), name="login"),
    path("account/logout/", auth_views.LogoutView.as_view(), name="logout"),
]
