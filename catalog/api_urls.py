from django.urls import path

from catalog import api

urlpatterns = [
    path("products/", api.ProductListApi.as_view(), name="api-product-list"),
    path("products/<slug:slug>/", api.ProductDetailApi.as_view(), name="api-product-detail"),
    path("categories/", api.CategoryListApi.as_view(), name="api-category-list"),
]
