"""Catalog: a category tree, products with structured attributes, variants that carry SKU, price and stock,
and the shopper events that feed search ranking and recommendations."""
from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.urls import reverse


class Category(models.Model):
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=140, unique=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    description = models.TextField(blank=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "name"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("catalog:category", kwargs={"slug": self.slug})


class Audience(models.TextChoices):
    WOMEN = "women", "Women"
    MEN = "men", "Men"
    UNISEX = "unisex", "Unisex"
    GIRLS = "girls", "Girls"
    BOYS = "boys", "Boys"
    KIDS = "kids", "Kids"


class Product(models.Model):
    # The importer's upsert key (a Myntra product id, a Shopify handle...); null for products made here.
    external_id = models.CharField(max_length=100, unique=True, null=True, blank=True)
    title = models.CharField(max_length=255)
    slug = models.SlugField(max_length=255, unique=True)
    brand = models.CharField(max_length=120, db_index=True)
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="products")
    description = models.TextField(blank=True)
    # Structured facts: {"colour": "red", "material": "cotton", "pattern": "printed", "fit": "regular", ...}
    attributes = models.JSONField(default=dict, blank=True)
    audience = models.CharField(max_length=10, choices=Audience.choices, blank=True, db_index=True)
    colour = models.CharField(max_length=40, blank=True, db_index=True)  # primary colour, a facet
    price = models.DecimalField(max_digits=10, decimal_places=2, validators=[MinValueValidator(Decimal("0"))])
    currency = models.CharField(max_length=3, default="INR")
    is_active = models.BooleanField(default=True, db_index=True)
    seo_title = models.CharField(max_length=60, blank=True)
    seo_description = models.CharField(max_length=155, blank=True)
    # Denormalised counters for "popular" sorting and ranking; changed with F() by services.
    view_count = models.PositiveIntegerField(default=0)
    sales_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "id"]
        indexes = [
            models.Index(fields=["category", "is_active", "price"]),
            models.Index(fields=["is_active", "-sales_count"]),
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("catalog:product", kwargs={"slug": self.slug})


class Variant(models.Model):
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="variants")
    sku = models.CharField(max_length=64, unique=True)
    size = models.CharField(max_length=20, blank=True)
    colour = models.CharField(max_length=40, blank=True)
    price = models.DecimalField(max_digits=10, decimal_places=2, validators=[MinValueValidator(Decimal("0"))])
    stock = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["product_id", "id"]
        constraints = [models.CheckConstraint(condition=models.Q(stock__gte=0), name="variant_stock_non_negative")]

    def __str__(self) -> str:
        label = " / ".join(part for part in (self.colour, self.size) if part)
        return f"{self.product.title} ({label or self.sku})"

    @property
    def in_stock(self) -> bool:
        return self.is_active and self.stock > 0


class ShopperEvent(models.Model):
    class Kind(models.TextChoices):
        VIEW = "view", "Product view"
        SEARCH = "search", "Search"
        ADD_TO_CART = "add_to_cart", "Add to cart"
        PURCHASE = "purchase", "Purchase"

    kind = models.CharField(max_length=12, choices=Kind.choices)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    session_key = models.CharField(max_length=40, blank=True)
    product = models.ForeignKey(Product, null=True, blank=True, on_delete=models.CASCADE)
    query = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["user", "created_at"]),
            models.Index(fields=["session_key", "created_at"]),
            models.Index(fields=["product", "kind"]),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.product_id or self.query} @ {self.created_at:%Y-%m-%d %H:%M}"
