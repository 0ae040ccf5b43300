"""Admin: the stored recommendations, with on-demand refresh actions, and the similar-items table."""
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from recommender.models import ShopperRecommendations, SimilarProducts
from recommender.tasks import refresh_recommendations


@admin.register(ShopperRecommendations)
class ShopperRecommendationsAdmin(admin.ModelAdmin):
    list_display = ("user", "item_count", "strategy", "model_version", "computed_at")
    list_filter = ("strategy", "model_version")
    search_fields = ("user__username", "user__email")
    readonly_fields = ("user", "items", "strategy", "model_version", "computed_at")
    actions = ["refresh_selected", "refresh_all_active"]

    @admin.display(description="items")
    def item_count(self, obj: ShopperRecommendations) -> int:
        return len(obj.items)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # rows come from the refresh, not from hand edits

    @admin.action(description="Refresh recommendations of the selected shoppers")
    def refresh_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        refresh_recommendations.delay(user_ids=list(queryset.values_list("user_id", flat=True)))
        self.message_user(request, "Refresh queued for the selected shoppers.", messages.SUCCESS)

    @admin.action(description="Refresh recommendations of every active shopper")
    def refresh_all_active(self, request: HttpRequest, queryset: QuerySet) -> None:
        refresh_recommendations.delay()
        self.message_user(request, "Refresh of every active shopper queued.", messages.SUCCESS)


@admin.register(SimilarProducts)
class SimilarProductsAdmin(admin.ModelAdmin):
    list_display = ("product", "computed_at")
    search_fields = ("product__title",)
    readonly_fields = ("product", "items", "computed_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
