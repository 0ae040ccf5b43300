"""Read-only API representations of categories, products and variants."""
from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from catalog.models import Category, Product, Variant
from catalog.selectors import CategoryNode, stock_state

_STOCK_STATES = ["in", "low", "out"]


class CategoryRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Category
        fields = ["slug", "name"]


class ProductListItemSerializer(serializers.ModelSerializer):
    """A product card. Expects `stock_total`, which selectors.products_by_ids() sets."""

    category = CategoryRefSerializer()
    stock_state = serializers.SerializerMethodField()
    url = serializers.CharField(source="get_absolute_url")

    class Meta:
        model = Product
        fields = [
            "id", "slug", "title", "brand", "category", "price", "currency", "colour", "audience", "stock_state",
            "url",
        ]

    @extend_schema_field(serializers.ChoiceField(choices=_STOCK_STATES))
    def get_stock_state(self, product: Product) -> str:
        return stock_state(product.stock_total)


class VariantSerializer(serializers.ModelSerializer):
    stock_state = serializers.SerializerMethodField()

    class Meta:
        model = Variant
        fields = ["sku", "size", "colour", "price", "stock", "stock_state"]

    @extend_schema_field(serializers.ChoiceField(choices=_STOCK_STATES))
    def get_stock_state(self, variant: Variant) -> str:
        return stock_state(variant.stock if variant.is_active else 0)


class ProductDetailSerializer(serializers.ModelSerializer):
    """A product page's data. Expects `active_variants` (prefetched by selectors.product_detail) and the
    breadcrumbs in the serializer context."""

    category = CategoryRefSerializer()
    breadcrumbs = serializers.SerializerMethodField()
    variants = VariantSerializer(source="active_variants", many=True)
    stock_state = serializers.SerializerMethodField()
    url = serializers.CharField(source="get_absolute_url")

    class Meta:
        model = Product
        fields = [
            "id", "slug", "title", "brand", "category", "breadcrumbs", "description", "attributes", "audience",
            "colour", "price", "currency", "seo_title", "seo_description", "stock_state", "variants", "url",
        ]

    @extend_schema_field(CategoryRefSerializer(many=True))
    def get_breadcrumbs(self, product: Product) -> list[dict[str, Any]]:
        return CategoryRefSerializer(self.context["breadcrumbs"], many=True).data

    @extend_schema_field(serializers.ChoiceField(choices=_STOCK_STATES))
    def get_stock_state(self, product: Product) -> str:
        return stock_state(sum(v.stock for v in product.active_variants))


class CategoryNodeSerializer(serializers.Serializer):
    slug = serializers.CharField(source="category.slug")
    name = serializers.CharField(source="category.name")
    url = serializers.CharField(source="category.get_absolute_url")
    product_count = serializers.IntegerField()
    children = serializers.SerializerMethodField()

    @extend_schema_field(serializers.ListField(child=serializers.DictField()))
    def get_children(self, node: CategoryNode) -> list[dict[str, Any]]:
        return CategoryNodeSerializer(node.children, many=True).data
