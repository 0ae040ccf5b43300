"""Catalog admin: the category tree, products with their variants inline, variants with editable stock,
and shopper events (read-only)."""
from __future__ import annotations

from django.contrib import admin
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.http import HttpRequest

from catalog.models import Category, Product, ShopperEvent, Variant
from catalog.services import catalog_cache_invalidate


class StorefrontEditAdmin(admin.ModelAdmin):
    """An admin whose edits the storefront shows at once: saving (inlines included) or deleting ends the
    cached catalog pages (see catalog.selectors.catalog_cached)."""

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        super().save_related(request, form, formsets, change)  # after save_model, and after the inlines
        catalog_cache_invalidate()

    def delete_model(self, request: HttpRequest, obj) -> None:
        super().delete_model(request, obj)
        catalog_cache_invalidate()

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        super().delete_queryset(request, queryset)
        catalog_cache_invalidate()


@admin.register(Category)
class CategoryAdmin(StorefrontEditAdmin):
    list_display = ["name", "slug", "parent", "position"]
    list_editable = ["position"]
    list_filter = [("parent", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["parent"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    autocomplete_fields = ["parent"]


class BrandFilter(admin.SimpleListFilter):
    """The biggest brands only: an imported catalog can have a thousand, which no sidebar can show.
    The search box finds the rest."""

    title = "brand"
    parameter_name = "brand"
    limit = 30

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        rows = Product.objects.values("brand").annotate(n=Count("id")).order_by("-n", "brand")[: self.limit]
        return [(row["brand"], f"{row['brand']} ({row['n']})") for row in rows]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Product]) -> QuerySet[Product]:
        return queryset.filter(brand=self.value()) if self.value() else queryset


class VariantInline(admin.TabularInline):
    model = Variant
    extra = 0
    fields = ["sku", "size", "colour", "price", "stock", "is_active"]


@admin.register(Product)
class ProductAdmin(StorefrontEditAdmin):
    list_display = ["title", "brand", "category", "audience", "price", "stock_total", "is_active", "updated_at"]
    list_filter = ["is_active", "audience", ("category", admin.RelatedOnlyFieldListFilter), BrandFilter]
    list_select_related = ["category"]
    search_fields = ["title", "brand", "external_id", "variants__sku"]
    prepopulated_fields = {"slug": ["title"]}
    autocomplete_fields = ["category"]
    readonly_fields = ["external_id", "view_count", "sales_count", "created_at", "updated_at"]
    inlines = [VariantInline]
    fieldsets = [
        (None, {"fields": ["title", "slug", "brand", "category", "audience", "colour", "is_active"]}),
        ("Price", {"fields": ["price", "currency"]}),
        ("Content", {"fields": ["description", "attributes"]}),
        ("Search engines", {"fields": ["seo_title", "seo_description"]}),
        ("Record", {"fields": ["external_id", "view_count", "sales_count", "created_at", "updated_at"]}),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Product]:
        # A subquery, not Sum() over a join: searching by SKU joins the variants again, which would multiply
        # a joined sum, and a subquery still costs the list page one query instead of one per row.
        stock = (
            Variant.objects.filter(product=OuterRef("pk"))
            .order_by()
            .values("product")
            .annotate(total=Sum("stock"))
            .values("total")
        )
        return super().get_queryset(request).annotate(
            _stock_total=Coalesce(Subquery(stock, output_field=IntegerField()), 0)
        )

    @admin.display(description="Stock", ordering="_stock_total")
    def stock_total(self, product: Product) -> int:
        return product._stock_total


@admin.register(Variant)
class VariantAdmin(StorefrontEditAdmin):
    list_display = ["sku", "product", "size", "colour", "price", "stock", "is_active"]
    list_editable = ["stock", "is_active"]
    list_filter = ["is_active", ("product__category", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["product"]
    search_fields = ["sku", "product__title", "product__brand"]
    autocomplete_fields = ["product"]


@admin.register(ShopperEvent)
class ShopperEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "kind", "user", "session_key", "product", "query"]
    list_filter = ["kind", "created_at"]
    list_select_related = ["user", "product"]
    search_fields = ["query", "session_key", "user__username", "product__title"]
    date_hierarchy = "created_at"
    show_full_result_count = False  # counting a large event table on every page load is slow

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ShopperEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ShopperEvent | None = None) -> bool:
        return False
