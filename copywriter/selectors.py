"""Copywriter reads: products with the facts a prompt needs, jobs with their progress, drafts for review, and
the per-product copy status the product list shows. Each runs a fixed number of queries."""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet

from catalog.models import Product
from catalog import selectors as catalog_selectors
from copywriter.models import PUBLISHED_FIELDS, CopyDraft, CopyJob, CopyJobItem, ItemStatus
from copywriter.prompts import ProductFacts, facts_from_product


def products_with_facts(
    *, ids: Iterable[int] | None = None, described_only: bool = False
) -> Iterator[tuple[Product, ProductFacts]]:
    """(product, its facts) for the given product ids (or every product), variants and category path loaded:
    three queries however many products."""
    queryset = Product.objects.select_related("category").prefetch_related("variants").order_by("pk")
    if ids is not None:
        queryset = queryset.filter(pk__in=list(ids))
    if described_only:
        queryset = queryset.exclude(description="")
    tree = catalog_selectors.category_tree()
    for product in queryset:
        path = [category.name for category in tree.ancestors(product.category_id)]
        yield product, facts_from_product(product, category_path=path)


def known_brands() -> set[str]:
    """Every brand in the catalog: a brand the copy names that is not the product's own is an invented fact."""
    return set(Product.objects.values_list("brand", flat=True).distinct())


def category_product_ids(*, category_id: int) -> list[int]:
    """Active products in a category and every category below it, oldest first."""
    ids = catalog_selectors.category_tree().descendant_ids(category_id)
    return list(Product.objects.filter(category_id__in=ids, is_active=True).order_by("pk").values_list("pk", flat=True))


@dataclass(frozen=True)
class JobProgress:
    total: int
    done: int
    failed: int
    flagged: int

    @property
    def finished(self) -> int:
        return self.done + self.failed

    @property
    def percent(self) -> int:
        return 100 if self.total == 0 else round(100 * self.finished / self.total)


def job_progress(*, job: CopyJob) -> JobProgress:
    """How far a job has got: items done or failed out of all, and drafts the grounding check flagged."""
    counts = CopyJobItem.objects.filter(job=job).aggregate(
        total=Count("pk"),
        done=Count("pk", filter=Q(status=ItemStatus.DONE)),
        failed=Count("pk", filter=Q(status=ItemStatus.FAILED)),
    )
    flagged = CopyDraft.objects.filter(job=job, flagged=True).count()
    return JobProgress(counts["total"], counts["done"], counts["failed"], flagged)


def pending_chunk_items(*, job: CopyJob, chunk: int) -> list[CopyJobItem]:
    """A chunk's items still to generate, in order (a resumed chunk starts where the crashed one stopped)."""
    return list(CopyJobItem.objects.filter(job=job, chunk=chunk, status=ItemStatus.PENDING).order_by("pk"))


def pending_chunks(*, job: CopyJob) -> list[int]:
    """The chunk numbers of a job that still have pending items."""
    rows = CopyJobItem.objects.filter(job=job, status=ItemStatus.PENDING).values_list("chunk", flat=True)
    return sorted(set(rows))


def drafts_for_review(*, job: CopyJob | None = None) -> QuerySet[CopyDraft]:
    """Drafts with their product and job, newest first; one query."""
    queryset = CopyDraft.objects.select_related("product", "job").order_by("-created_at", "-pk")
    return queryset.filter(job=job) if job is not None else queryset


def draft_for_review(*, draft_id: int) -> CopyDraft | None:
    return drafts_for_review().filter(pk=draft_id).first()


def current_copy(*, product: Product, kind: str) -> str:
    """What the product shows now for a kind of copy (what approving a draft of that kind replaces)."""
    return catalog_selectors.product_copy(product=product, field=PUBLISHED_FIELDS[kind])