"""Stored recommendations: each signed-in shopper's precomputed top 50, and each product's text neighbours.

Both are one row per key with a JSON list, so a page reads what it shows with one query (or a cache hit),
and the batch jobs that write them replace rows wholesale (idempotent upserts)."""
from django.conf import settings
from django.db import models


class ShopperRecommendations(models.Model):
    """A shopper's top products from the last batch refresh.

    items: [{"product": id, "score": float, "because": id | null}, ...] best first; "because" names the
    product of the shopper's history that most explains the pick ("Because you viewed ...")."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    items = models.JSONField(default=list)
    strategy = models.CharField(max_length=40, help_text="what produced the list: model, cooccurrence, popular...")
    model_version = models.CharField(max_length=100, blank=True)
    computed_at = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name = "shopper recommendations"
        verbose_name_plural = "shopper recommendations"

    def __str__(self) -> str:
        return f"{len(self.items)} for user {self.user_id} ({self.strategy} {self.model_version})".strip()


class SimilarProducts(models.Model):
    """A product's nearest neighbours by the MiniLM embedding of its text (title, brand, category,
    attributes), computed in batch, so "Similar items" never embeds on the request path.

    items: [{"product": id, "score": cosine similarity}, ...] best first."""

    product = models.OneToOneField("catalog.Product", on_delete=models.CASCADE, related_name="+")
    items = models.JSONField(default=list)
    computed_at = models.DateTimeField()

    class Meta:
        verbose_name = "similar products"
        verbose_name_plural = "similar products"

    def __str__(self) -> str:
        return f"{len(self.items)} similar to product {self.product_id}"
