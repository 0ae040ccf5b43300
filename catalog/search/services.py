"""Search writes: indexing products (keyword documents and embeddings) and rebuilding the vocabulary.

Indexing never runs on the request path. The catalog does not know its consumers, so instead of being
told about each save, the indexer finds its own work: it computes every product's indexed text, compares
its hash with the stored one, and embeds (in batches) only the products whose text or embedding model
changed. A Celery beat task runs it every few minutes (catalog.search.tasks.index_changed_products) and
`manage.py index_products` runs it on demand. Checking the 11.5k-product catalog when nothing changed takes
well under a second; the model runs only for what is new."""
from __future__ import annotations

import hashlib
import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.db import transaction
from django.db.models import F

from catalog.models import Product
from catalog.search.backends import Document, keyword_backend
from catalog.search.models import EMBEDDING_DIM, IndexState, ProductEmbedding, SearchTerm
from catalog.search.query_parser import AUDIENCE_SCOPE
from catalog.search.ranking import get_embedder
from catalog.search.text import index_text, index_words, phrase_key

logger = logging.getLogger(__name__)

# Products read per database round trip while checking hashes, and embedded per model call.
SCAN_CHUNK = 2000
EMBED_BATCH = 128
# Re-indexing at least this many products (and a tenth of the catalog) refreshes the planner's statistics.
ANALYZE_AFTER = 100
_INDEXED_FIELDS = ("id", "title", "brand", "description", "attributes", "colour", "audience", "category__name")


@dataclass(frozen=True)
class IndexReport:
    checked: int
    indexed: int
    generation: int


@dataclass(frozen=True)
class _Indexable:
    document: Document
    embedding_text: str
    text_hash: str


def _indexable(row: dict[str, Any]) -> _Indexable:
    attributes = row["attributes"] if isinstance(row["attributes"], dict) else {}
    # Only the words of attributes matter ("type": "Kurta", "pattern": "printed"), not counts like "images".
    attribute_words = " ".join(str(v) for v in attributes.values() if isinstance(v, str))
    category = row["category__name"] or ""
    extra = " ".join(part for part in (category, row["colour"], row["audience"], attribute_words) if part)
    document = Document(
        product_id=row["id"],
        title=index_text(row["title"]),
        brand=index_text(row["brand"]),
        extra=index_text(extra),
        description=index_text(row["description"]),
    )
    # Title and category only. A mean-pooled embedding of a long text drifts towards the description's
    # generic words (necklines, sleeves, closures), and a shopper's few words then match it worse: on a
    # sample of the Myntra catalog, adding the description cut the right-category share of a query's ten
    # nearest products from 0.66 to 0.62. The description stays in the keyword index, weighted lowest.
    embedding_text = ". ".join(part for part in (row["title"], category) if part)
    digest = hashlib.sha256(
        "\x1f".join([document.title, document.brand, document.extra, document.description, embedding_text]).encode()
    ).hexdigest()
    return _Indexable(document, embedding_text, digest)


def _product_rows(product_ids: Sequence[int] | None) -> Iterator[list[dict[str, Any]]]:
    queryset = Product.objects.order_by("id")
    if product_ids is not None:
        queryset = queryset.filter(pk__in=list(product_ids))
    last_id = 0
    while True:
        chunk = list(queryset.filter(pk__gt=last_id).values(*_INDEXED_FIELDS)[:SCAN_CHUNK])
        if not chunk:
            return
        yield chunk
        last_id = chunk[-1]["id"]


def index_products(
    *,
    product_ids: Sequence[int] | None = None,
    full: bool = False,
    progress: Callable[[int], None] | None = None,
) -> IndexReport:
    """Bring the search index up to date with the catalog: keyword documents and embeddings of every
    product (or of `product_ids`) whose indexed text or embedding model changed since it was last indexed;
    with `full`, of every product regardless. Then drop documents of deleted products, rebuild the
    vocabulary and move the index generation on, so every process reloads its vectors.

    Idempotent and safe to run concurrently with searches. The model runs outside any transaction, so
    SQLite is not write-locked while it thinks. `progress` is called with the number of products checked."""
    embedder = get_embedder()
    backend = keyword_backend()
    checked = indexed = 0
    for rows in _product_rows(product_ids):
        items = [_indexable(row) for row in rows]
        stored = dict(
            ProductEmbedding.objects.filter(product_id__in=[i.document.product_id for i in items])
            .filter(model_version=embedder.version)
            .values_list("product_id", "text_hash")
        )
        stale = [i for i in items if full or stored.get(i.document.product_id) != i.text_hash]
        for start in range(0, len(stale), EMBED_BATCH):
            batch = stale[start : start + EMBED_BATCH]
            vectors = _embed(embedder, [i.embedding_text for i in batch])
            with transaction.atomic():
                backend.upsert([i.document for i in batch])
                ProductEmbedding.objects.bulk_create(
                    [
                        ProductEmbedding(
                            product_id=i.document.product_id,
                            vector=vector.astype("<f4").tobytes(),
                            text_hash=i.text_hash,
                            model_version=embedder.version,
                        )
                        for i, vector in zip(batch, vectors, strict=True)
                    ],
                    update_conflicts=True,
                    unique_fields=["product"],
                    update_fields=["vector", "text_hash", "model_version", "updated_at"],
                )
        checked += len(items)
        indexed += len(stale)
        if progress:
            progress(len(items))
    removed = backend.delete_orphans()
    if indexed >= max(ANALYZE_AFTER, checked // 10):
        backend.analyze()
    if indexed or removed or full:
        vocabulary_rebuild()
        generation = index_generation_bump()
    else:
        generation = IndexState.objects.filter(pk=1).values_list("generation", flat=True).first() or 0
    logger.info("search index: %s products checked, %s indexed, %s removed", checked, indexed, removed)
    return IndexReport(checked=checked, indexed=indexed, generation=generation)


def _embed(embedder: Any, texts: list[str]) -> np.ndarray:
    vectors = np.asarray(embedder.embed(texts), dtype=np.float32)
    if vectors.shape != (len(texts), EMBEDDING_DIM):
        raise ValueError(f"embedder returned shape {vectors.shape}, expected ({len(texts)}, {EMBEDDING_DIM})")
    return vectors


def index_generation_bump() -> int:
    """Move the index generation on (processes reload their vectors and vocabulary) and return it."""
    with transaction.atomic():
        IndexState.objects.get_or_create(pk=1)
        IndexState.objects.filter(pk=1).update(generation=F("generation") + 1)
        return IndexState.objects.get(pk=1).generation


# -------------------------------------------------------------------------------------- vocabulary

# A brand name that is also one of these is never read as a brand ("Red", "Men"): the word means more.
_RESERVED = {*AUDIENCE_SCOPE, "women", "men", "for", "and", "with", "the", "under", "over", "size", "new"}


def vocabulary_rebuild() -> int:
    """Rebuild the search vocabulary from the active catalog and return its size: every word of titles,
    brands and category names with its document frequency (for spelling correction), every brand under the
    words a shopper would type for it (for query understanding), and every colour facet value."""
    word_df: Counter[str] = Counter()
    brand_word_df: dict[str, Counter[str]] = defaultdict(Counter)
    brand_products: Counter[str] = Counter()
    colours: set[str] = set()
    rows = Product.objects.filter(is_active=True).values_list("title", "brand", "category__name", "colour")
    for title, brand, category, colour in rows.iterator(chunk_size=SCAN_CHUNK):
        words = set(index_words(f"{title} {brand} {category or ''}"))
        word_df.update(words)
        brand_word_df[brand].update(set(index_words(title)))
        brand_products[brand] += 1
        if colour.strip():
            colours.add(colour.strip().lower())

    terms = [SearchTerm(kind=SearchTerm.Kind.WORD, term=w[:120], frequency=n) for w, n in word_df.items()]
    terms += [SearchTerm(kind=SearchTerm.Kind.COLOUR, term=c[:120], value=c[:140]) for c in sorted(colours)]
    title_df = Counter()
    for counter in brand_word_df.values():
        title_df.update(counter)
    for brand, count in brand_products.items():
        for key in _brand_keys(brand):
            # "Basics" is a brand, and "basic" a word in many other brands' titles: such a name is only
            # read as a brand when the shopper types it with another word of the name.
            others = title_df[key] - brand_word_df[brand][key] if " " not in key else 0
            ambiguous = key in _RESERVED or key in colours or len(key) < 2 or others > count
            terms.append(
                SearchTerm(
                    kind=SearchTerm.Kind.BRAND, term=key[:120], value=brand[:140], frequency=count, ambiguous=ambiguous
                )
            )
    with transaction.atomic():
        SearchTerm.objects.all().delete()
        SearchTerm.objects.bulk_create(terms, batch_size=1000, ignore_conflicts=True)
    return len(terms)


def _brand_keys(brand: str) -> set[str]:
    # "HERE&NOW" is typed "herenow", "here&now" or "here now"; "U.S. Polo Assn." as "us polo assn".
    keys = {phrase_key(brand), phrase_key(brand.replace("&", " ").replace("-", " "))}
    return {key for key in keys if key}
