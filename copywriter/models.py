"""Copy generation: jobs (what a merchant asked for), their items (one product each, grouped in chunks that
Celery runs), the drafts they produce, and each merchant's daily usage against the generation quota.

Resuming is safe by construction: an item leaves PENDING in the same transaction that writes its draft, and a
draft is unique per (job, product, kind), so a redelivered chunk skips what a crashed worker finished and can
never write a second draft for the same product.
"""
from django.conf import settings
from django.db import models

from catalog.models import Category, Product


class CopyKind(models.TextChoices):
    DESCRIPTION = "description", "Long description"
    PROMO = "promo", "Short promo line"
    SEO_TITLE = "seo_title", "SEO title"
    SEO_META = "seo_meta", "SEO meta description"
    BULLETS = "bullets", "Feature bullets"


# kind -> the product copy field approving a draft publishes it to (catalog.selectors.COPY_FIELDS and
# COPY_ATTRIBUTES; prompts.py keeps the attribute ones out of the facts, so copy never grounds copy).
PUBLISHED_FIELDS: dict[str, str] = {
    CopyKind.DESCRIPTION: "description",
    CopyKind.SEO_TITLE: "seo_title",
    CopyKind.SEO_META: "seo_description",
    CopyKind.PROMO: "promo_line",
    CopyKind.BULLETS: "features",
}


class Tone(models.TextChoices):
    NEUTRAL = "neutral", "Neutral"
    PLAYFUL = "playful", "Playful"
    PREMIUM = "premium", "Premium"
    TECHNICAL = "technical", "Technical"


class Length(models.TextChoices):
    SHORT = "short", "Short"
    MEDIUM = "medium", "Medium"
    LONG = "long", "Long"


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    CANCELLED = "cancelled", "Cancelled"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class CopyJob(models.Model):
    kind = models.CharField(max_length=12, choices=CopyKind.choices)
    tone = models.CharField(max_length=10, choices=Tone.choices, default=Tone.NEUTRAL)
    length = models.CharField(max_length=6, choices=Length.choices, default=Length.MEDIUM)
    instructions = models.TextField(blank=True)  # stored sanitised; style guidance only, never facts
    category = models.ForeignKey(Category, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True)
    total = models.PositiveIntegerField(default=0)
    chunk_size = models.PositiveIntegerField(default=16)
    chunks = models.PositiveIntegerField(default=0)
    model_version = models.CharField(max_length=100, blank=True)  # "base" or the registry version that ran
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="copy_jobs")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"Copy job #{self.pk}: {self.get_kind_display()} for {self.total} products"

    @property
    def is_open(self) -> bool:
        return self.status in (JobStatus.QUEUED, JobStatus.RUNNING)


class ItemStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped (cancelled)"


class CopyJobItem(models.Model):
    """One product of a job: the chunk bookkeeping that makes a crashed chunk resumable."""

    job = models.ForeignKey(CopyJob, on_delete=models.CASCADE, related_name="items")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="copy_items")
    chunk = models.PositiveIntegerField()
    status = models.CharField(max_length=8, choices=ItemStatus.choices, default=ItemStatus.PENDING)
    error = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["pk"]
        constraints = [models.UniqueConstraint(fields=["job", "product"], name="copy_item_once_per_job")]
        indexes = [models.Index(fields=["job", "chunk", "status"]), models.Index(fields=["product", "status"])]


class DraftStatus(models.TextChoices):
    DRAFT = "draft", "To review"
    APPROVED = "approved", "Approved (published)"
    REJECTED = "rejected", "Rejected"


class CopyDraft(models.Model):
    job = models.ForeignKey(CopyJob, on_delete=models.CASCADE, related_name="drafts")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="copy_drafts")
    kind = models.CharField(max_length=12, choices=CopyKind.choices)
    text = models.TextField()  # plain text; always rendered escaped
    previous_text = models.TextField(blank=True)  # what approving replaced, for revert
    findings = models.JSONField(default=list, blank=True)  # grounding findings: [{kind, text, start, end}]
    flagged = models.BooleanField(default=False, db_index=True)  # a finding survived every regeneration
    attempts = models.PositiveSmallIntegerField(default=1)
    model_version = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=8, choices=DraftStatus.choices, default=DraftStatus.DRAFT, db_index=True)
    edited = models.BooleanField(default=False)
    feedback = models.SmallIntegerField(default=0)  # thumbs: 1 up, -1 down, 0 none
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["job", "product", "kind"], name="copy_draft_once_per_job_product_kind"),
            models.CheckConstraint(condition=models.Q(feedback__in=[-1, 0, 1]), name="copy_draft_feedback_thumbs"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for {self.product_id} ({self.get_status_display()})"


class CopyUsage(models.Model):
    """Generations a merchant started on a day (UTC): what the daily quota is checked against."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "day"], name="copy_usage_once_per_user_day")]
