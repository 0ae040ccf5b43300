"""Copywriter writes: jobs (create with the quota check, run a chunk, cancel, resume) and drafts (edit,
approve, reject, regenerate, revert, feedback). Each function owns its transaction; background work is
queued with transaction.on_commit so a task never sees uncommitted rows."""
from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from datetime import date

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from catalog import services as catalog_services
from catalog.models import Category, Product
from copywriter import generation, grounding, selectors
from copywriter.models import (
    PUBLISHED_FIELDS, CopyDraft, CopyJob, CopyJobItem, CopyKind, CopyUsage, DraftStatus, ItemStatus, JobStatus, Length,
    Tone,
)
from copywriter.prompts import sanitise_instructions
from shop.errors import ApplicationError, ConflictError, NotFoundError

logger = logging.getLogger(__name__)

DEFAULT_CHUNK_SIZE = 16  # products per Celery task: long enough to batch well, short enough to cancel promptly
MAX_PRODUCTS_PER_JOB = 5000


def daily_quota() -> int:
    return int(getattr(settings, "COPY_DAILY_QUOTA", 500))


def quota_left(*, user: AbstractBaseUser, day: date | None = None) -> int:
    """Generations `user` may still start today."""
    used = CopyUsage.objects.filter(user=user, day=day or timezone.now().date()).values_list("count", flat=True).first()
    return max(0, daily_quota() - (used or 0))


def _quota_consume(*, user: AbstractBaseUser, count: int) -> None:
    """Count `count` generations against today's quota, or raise 429 "quota_exceeded". Runs in the caller's
    transaction; the usage row is locked so two requests cannot both take the last generations."""
    day = timezone.now().date()
    CopyUsage.objects.get_or_create(user=user, day=day)
    usage = CopyUsage.objects.select_for_update().get(user=user, day=day)
    quota = daily_quota()
    if usage.count + count > quota:
        raise ApplicationError(
            "quota_exceeded",
            f"This asks for {count} generations and {max(0, quota - usage.count)} of today's {quota} are left.",
            fields={"quota": quota, "used": usage.count, "requested": count},
            status=429,
        )
    CopyUsage.objects.filter(pk=usage.pk).update(count=F("count") + count)


# ------------------------------------------------------------------------------------------------- jobs


def copy_job_create(
    *,
    user: AbstractBaseUser,
    kind: str,
    tone: str = Tone.NEUTRAL,
    length: str = Length.MEDIUM,
    instructions: str = "",
    product_ids: Sequence[int] | None = None,
    category: Category | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> CopyJob:
    """Create a job for the given products, or for every active product of `category` and below, count its
    generations against the merchant's daily quota, and queue its chunks once the job is committed."""
    problems = {
        name: f"must be one of {', '.join(choices.values)}"
        for name, value, choices in (("kind", kind, CopyKind), ("tone", tone, Tone), ("length", length, Length))
        if value not in choices.values
    }
    if (product_ids is None) == (category is None):
        problems["products"] = "give either products or a category"
    if problems:
        raise ApplicationError("invalid", "The copy job is not valid.", fields=problems)
    if category is not None:
        ids = selectors.category_product_ids(category_id=category.pk)
    else:
        wanted = list(dict.fromkeys(int(pk) for pk in product_ids or ()))
        ids = sorted(Product.objects.filter(pk__in=wanted).values_list("pk", flat=True))
    if not ids:
        raise ApplicationError("no_products", "No products to write copy for.", fields={"products": "none found"})
    if len(ids) > MAX_PRODUCTS_PER_JOB:
        raise ApplicationError("too_many_products", f"A job can cover at most {MAX_PRODUCTS_PER_JOB} products.")
    chunk_size = max(1, chunk_size)
    with transaction.atomic():
        _quota_consume(user=user, count=len(ids))
        job = CopyJob.objects.create(
            kind=kind, tone=tone, length=length, instructions=sanitise_instructions(instructions), category=category,
            total=len(ids), chunk_size=chunk_size, chunks=math.ceil(len(ids) / chunk_size), created_by=user,
        )
        CopyJobItem.objects.bulk_create(
            CopyJobItem(job=job, product_id=pk, chunk=position // chunk_size) for position, pk in enumerate(ids)
        )
        transaction.on_commit(lambda: _enqueue_chunks(job_id=job.pk, chunks=range(job.chunks)))
    return job


def _enqueue_chunks(*, job_id: int, chunks: Iterable[int]) -> None:
    from copywriter.tasks import run_copy_chunk

    for chunk in chunks:
        run_copy_chunk.delay(job_id, chunk)


def copy_job_run_chunk(*, job_id: int, chunk: int, batch_size: int = 8) -> int:
    """Generate the drafts of one chunk's pending items, `batch_size` products per batch, committing each
    batch with its items marked done. Safe to run again after a crash or alongside a duplicate delivery: only
    pending items are generated and a draft is unique per (job, product, kind). Stops at the next batch when
    the job is cancelled. Returns the number of drafts written."""
    job = CopyJob.objects.filter(pk=job_id).first()
    if job is None or not job.is_open:
        return 0
    if job.status == JobStatus.QUEUED:
        CopyJob.objects.filter(pk=job.pk, status=JobStatus.QUEUED).update(
            status=JobStatus.RUNNING, started_at=timezone.now()
        )
    items = selectors.pending_chunk_items(job=job, chunk=chunk)
    brands = selectors.known_brands() if items else set()
    written = 0
    for start in range(0, len(items), batch_size):
        if CopyJob.objects.filter(pk=job.pk).values_list("status", flat=True).first() != JobStatus.RUNNING:
            return written  # cancelled (or finished elsewhere) meanwhile
        batch = items[start : start + batch_size]
        written += _generate_items(job=job, items=batch, brands=brands)
    _job_finish_if_complete(job_id=job.pk)
    return written


def _generate_items(*, job: CopyJob, items: list[CopyJobItem], brands: set[str]) -> int:
    facts = {product.pk: product_facts
             for product, product_facts in selectors.products_with_facts(ids=[i.product_id for i in items])}
    present = [item for item in items if item.product_id in facts]
    requests = [
        generation.CopyRequest(facts[item.product_id], job.kind, job.tone, job.length, job.instructions)
        for item in present
    ]
    try:
        results = generation.generate_copy(requests, known_brands=brands) if requests else []
    except Exception as error:  # a model failure fails these products, not the whole job
        logger.exception("copy generation failed for job %s", job.pk)
        _items_fail(items=present, reason=f"generation failed: {error}"[:200])
        results, present = [], []
    written = 0
    with transaction.atomic():
        for item, result in zip(present, results):
            try:
                with transaction.atomic():  # a savepoint: a duplicate delivery's draft must not undo the rest
                    CopyDraft.objects.create(
                        job=job, product_id=item.product_id, kind=job.kind, text=result.text,
                        findings=[f.as_dict() for f in result.findings], flagged=result.flagged,
                        attempts=result.attempts, model_version=result.model_version,
                    )
                written += 1
            except IntegrityError:
                pass  # another delivery of this chunk wrote it first
        done_ids = [item.pk for item in present]
        CopyJobItem.objects.filter(pk__in=done_ids, status=ItemStatus.PENDING).update(status=ItemStatus.DONE)
        missing = [item for item in items if item.product_id not in facts]
        _items_fail(items=missing, reason="the product no longer exists")
        if results and not job.model_version:
            CopyJob.objects.filter(pk=job.pk, model_version="").update(model_version=results[0].model_version)
    return written


def _items_fail(*, items: Iterable[CopyJobItem], reason: str) -> None:
    ids = [item.pk for item in items]
    if ids:
        CopyJobItem.objects.filter(pk__in=ids, status=ItemStatus.PENDING).update(status=ItemStatus.FAILED, error=reason)


def _job_finish_if_complete(*, job_id: int) -> None:
    if CopyJobItem.objects.filter(job_id=job_id, status=ItemStatus.PENDING).exists():
        return
    done = CopyJobItem.objects.filter(job_id=job_id, status=ItemStatus.DONE).exists()
    CopyJob.objects.filter(pk=job_id, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).update(
        status=JobStatus.DONE if done else JobStatus.FAILED, finished_at=timezone.now(),
        error="" if done else "no product could be generated",
    )


def copy_job_cancel(*, job: CopyJob) -> CopyJob:
    """Stop a queued or running job: its pending items are skipped and running chunks stop at their next
    batch. Drafts already written stay for review. Cancelling a finished job is a 409."""
    with transaction.atomic():
        updated = CopyJob.objects.filter(pk=job.pk, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).update(
            status=JobStatus.CANCELLED, finished_at=timezone.now()
        )
        if not updated:
            raise ConflictError("job_finished", "Only a queued or running job can be cancelled.")
        CopyJobItem.objects.filter(job=job, status=ItemStatus.PENDING).update(status=ItemStatus.SKIPPED)
    job.refresh_from_db()
    return job


def copy_job_resume(*, job: CopyJob) -> list[int]:
    """Queue again the chunks of an open job that still have pending items (after a worker died without its
    task being redelivered, e.g. the in-process runner); returns their numbers."""
    if not job.is_open:
        raise ConflictError("job_finished", "Only a queued or running job can be resumed.")
    chunks = selectors.pending_chunks(job=job)
    transaction.on_commit(lambda: _enqueue_chunks(job_id=job.pk, chunks=chunks))
    return chunks


# ----------------------------------------------------------------------------------------------- drafts


def _locked_draft(draft: CopyDraft) -> CopyDraft:
    locked = CopyDraft.objects.select_for_update().select_related("product").filter(pk=draft.pk).first()
    if locked is None:
        raise NotFoundError("not_found", "The draft no longer exists.")
    return locked


def copy_draft_edit(*, draft: CopyDraft, text: str, user: AbstractBaseUser) -> CopyDraft:
    """Replace a draft's text with the merchant's edit (cleaned to plain text and the kind's length) and
    check it again, so the findings shown stay true of the text."""
    with transaction.atomic():
        draft = _locked_draft(draft)
        if draft.status != DraftStatus.DRAFT:
            raise ConflictError("not_editable", "Only a draft under review can be edited.")
        job = draft.job
        cleaned = grounding.clean_output(text, draft.kind, job.length)
        if not cleaned:
            raise ApplicationError("empty", "The text is empty.", fields={"text": "required"})
        facts = next(facts for _, facts in selectors.products_with_facts(ids=[draft.product_id]))
        findings = grounding.check(cleaned, facts.source_text(), selectors.known_brands())
        draft.text, draft.edited, draft.reviewed_by = cleaned, True, user
        draft.findings, draft.flagged = [f.as_dict() for f in findings], bool(findings)
        draft.save(update_fields=["text", "edited", "reviewed_by", "findings", "flagged", "updated_at"])
    return draft


def copy_draft_approve(*, draft: CopyDraft, user: AbstractBaseUser) -> CopyDraft:
    """Publish the draft to its product and keep the text it replaced for revert."""
    with transaction.atomic():
        draft = _locked_draft(draft)
        if draft.status != DraftStatus.DRAFT:
            raise ConflictError("not_reviewable", "Only a draft under review can be approved.")
        draft.previous_text = _publish(product_id=draft.product_id, kind=draft.kind, text=draft.text)
        draft.status, draft.reviewed_by = DraftStatus.APPROVED, user
        draft.save(update_fields=["previous_text", "status", "reviewed_by", "updated_at"])
    return draft


def copy_draft_revert(*, draft: CopyDraft, user: AbstractBaseUser) -> CopyDraft:
    """Put back the text an approved draft replaced; the draft returns to review."""
    with transaction.atomic():
        draft = _locked_draft(draft)
        if draft.status != DraftStatus.APPROVED:
            raise ConflictError("not_approved", "Only an approved draft can be reverted.")
        _publish(product_id=draft.product_id, kind=draft.kind, text=draft.previous_text)
        draft.status, draft.previous_text, draft.reviewed_by = DraftStatus.DRAFT, "", user
        draft.save(update_fields=["status", "previous_text", "reviewed_by", "updated_at"])
    return draft


def copy_draft_reject(*, draft: CopyDraft, user: AbstractBaseUser) -> CopyDraft:
    """Set a draft aside; nothing is published."""
    with transaction.atomic():
        draft = _locked_draft(draft)
        if draft.status != DraftStatus.DRAFT:
            raise ConflictError("not_reviewable", "Only a draft under review can be rejected.")
        draft.status, draft.reviewed_by = DraftStatus.REJECTED, user
        draft.save(update_fields=["status", "reviewed_by", "updated_at"])
    return draft


def copy_draft_regenerate(*, draft: CopyDraft, user: AbstractBaseUser) -> CopyDraft:
    """Write the draft again (sampled, so the text changes), counting one generation against the quota.

    The model runs outside any transaction (it takes seconds, and a held lock would stall every writer);
    the new text is written only if the draft is still under review by then."""
    with transaction.atomic():
        draft = _locked_draft(draft)
        if draft.status != DraftStatus.DRAFT:
            raise ConflictError("not_reviewable", "Only a draft under review can be regenerated.")
        _quota_consume(user=user, count=1)
    job = draft.job
    facts = next(facts for _, facts in selectors.products_with_facts(ids=[draft.product_id]))
    request = generation.CopyRequest(facts, draft.kind, job.tone, job.length, job.instructions)
    result = generation.generate_copy([request], known_brands=selectors.known_brands(),
                                      first_attempt=draft.attempts)[0]
    with transaction.atomic():
        draft = _locked_draft(draft)
        if draft.status != DraftStatus.DRAFT:
            raise ConflictError("not_reviewable", "The draft was reviewed while it was being regenerated.")
        draft.text, draft.findings, draft.flagged = result.text, [f.as_dict() for f in result.findings], result.flagged
        draft.attempts += result.attempts
        draft.model_version, draft.edited, draft.feedback, draft.reviewed_by = result.model_version, False, 0, user
        draft.save()
    return draft


def copy_draft_feedback(*, draft: CopyDraft, value: int) -> CopyDraft:
    """Record the merchant's thumbs: 1 up, -1 down, 0 to clear."""
    if value not in (-1, 0, 1):
        raise ApplicationError("invalid", "Feedback is 1, -1 or 0.", fields={"value": "must be 1, -1 or 0"})
    with transaction.atomic():
        CopyDraft.objects.filter(pk=draft.pk).update(feedback=value, updated_at=timezone.now())
    draft.feedback = value
    return draft


def _publish(*, product_id: int, kind: str, text: str) -> str:
    """Write `text` as the product's copy of `kind` (through the catalog's service) and return what it replaced."""
    return catalog_services.product_copy_update(product_id=product_id, field=PUBLISHED_FIELDS[kind], text=text)