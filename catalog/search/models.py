"""Search's own tables: one embedding per product, the vocabulary behind typo tolerance and query
understanding, and a generation counter that tells every process when its in-memory copies are stale.

The keyword index itself (an FTS5 table on SQLite, a tsvector table with a GIN index on PostgreSQL) is not a
Django model: each is created by a migration that runs only on its own database (see search.backends)."""
from __future__ import annotations

import numpy as np
from django.db import models

from catalog.models import Product

EMBEDDING_DIM = 384


class ProductEmbedding(models.Model):
    """A product's sentence embedding (float32, L2-normalised) and what it was computed from."""

    product = models.OneToOneField(Product, on_delete=models.CASCADE, primary_key=True, related_name="+")
    # 384 little-endian float32s: 1.5 kB a row; loading 11.5k of them takes a fraction of a second.
    vector = models.BinaryField()
    # sha256 of the embedded text: the indexer re-embeds only products whose text (or model) changed.
    text_hash = models.CharField(max_length=64)
    model_version = models.CharField(max_length=100)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"embedding of product {self.product_id} ({self.model_version})"

    def as_array(self) -> np.ndarray:
        return np.frombuffer(bytes(self.vector), dtype="<f4")


class SearchTerm(models.Model):
    """One entry of the search vocabulary, rebuilt from the catalog by the indexer.

    Words (from titles, brands and categories) carry their document frequency, for spelling correction;
    brands carry the catalog's own spelling in `value`, for query understanding."""

    class Kind(models.TextChoices):
        WORD = "word", "Word"
        BRAND = "brand", "Brand"
        COLOUR = "colour", "Colour"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    term = models.CharField(max_length=120)  # normalised: lower case, words separated by single spaces
    value = models.CharField(max_length=140, blank=True)  # the catalog's spelling of a brand
    frequency = models.PositiveIntegerField(default=0)
    # A brand whose name is also an ordinary word in other products' titles ("Basics") is not read as a brand.
    ambiguous = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "term", "value"], name="search_term_unique")]

    def __str__(self) -> str:
        return f"{self.kind}:{self.term}"


class IndexState(models.Model):
    """A single row. `generation` goes up whenever the index changes; each process compares it with the
    generation of its in-memory vectors and vocabulary (one primary-key read a search) and reloads if stale."""

    generation = models.PositiveBigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"search index generation {self.generation}"
