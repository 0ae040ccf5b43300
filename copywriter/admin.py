"""The merchant's copy workflow in the Django admin.

Products: catalog registers ProductAdmin and must not know its consumers (DESIGN.md), so copywriter
re-registers Product with a subclass of catalog's ProductAdmin that adds the "Generate copy..." action and a
"Copy" progress column. Subclassing keeps every catalog setting (filters, inlines, the stock annotation) and
any later change to them; `admin.site.add_action` was not an option, as it would put the action on every
model's list. This module is imported after catalog's admin because copywriter comes after catalog in
INSTALLED_APPS (admin autodiscovery follows that order).

Jobs: a list and page with a progress bar, and cancel/resume. Drafts: a review page with the current text and
the draft side by side, the grounding findings highlighted (the text is escaped: generated copy is data,
never markup), and edit / approve / reject / regenerate / revert / thumbs.
"""
from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from catalog.admin import ProductAdmin
from catalog.models import Category, Product
from copywriter import selectors, services
from copywriter.models import CopyDraft, CopyJob, CopyJobItem, CopyKind, DraftStatus, ItemStatus, JobStatus, Length, Tone
from shop.errors import ApplicationError

# ------------------------------------------------------------------------------------------ products


class GenerateCopyForm(forms.Form):
    kind = forms.ChoiceField(choices=CopyKind.choices)
    tone = forms.ChoiceField(choices=Tone.choices, initial=Tone.NEUTRAL)
    length = forms.ChoiceField(choices=Length.choices, initial=Length.MEDIUM, help_text="descriptions only")
    instructions = forms.CharField(
        required=False, max_length=1000, widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Style guidance only (e.g. 'mention the festive season'); facts always come from the product.",
    )
    scope = forms.ChoiceField(
        choices=[("selected", "The selected products"), ("category", "Every product of a category")],
        initial="selected", widget=forms.RadioSelect,
    )
    category = forms.ModelChoiceField(queryset=Category.objects.order_by("name"), required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("scope") == "category" and not data.get("category"):
            self.add_error("category", "Choose the category to generate copy for.")
        return data


class CopyProductAdmin(ProductAdmin):
    actions = [*(ProductAdmin.actions or ()), "generate_copy"]
    list_display = [*ProductAdmin.list_display, "copy_status"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Product]:
        # Two subqueries, so the "Copy" column costs the list page nothing per row.
        generating = CopyJobItem.objects.filter(
            product=OuterRef("pk"), status=ItemStatus.PENDING, job__status__in=[JobStatus.QUEUED, JobStatus.RUNNING]
        )
        to_review = (
            CopyDraft.objects.filter(product=OuterRef("pk"), status=DraftStatus.DRAFT)
            .order_by().values("product").annotate(n=Count("pk")).values("n")
        )
        return super().get_queryset(request).annotate(
            _copy_generating=Exists(generating), _copy_to_review=Subquery(to_review)
        )

    @admin.display(description="Copy")
    def copy_status(self, product: Product) -> str:
        if product._copy_generating:
            return "generating…"
        if product._copy_to_review:
            return f"{product._copy_to_review} to review"
        return "—"

    @admin.action(description="Generate copy…", permissions=["change"])
    def generate_copy(self, request: HttpRequest, queryset: QuerySet[Product]) -> HttpResponse | None:
        """The intermediate page: kind, tone, length, instructions and scope; applying it queues a job."""
        if "apply" in request.POST:
            form = GenerateCopyForm(request.POST)
            if form.is_valid():
                data = form.cleaned_data
                in_category = data["scope"] == "category"
                try:
                    job = services.copy_job_create(
                        user=request.user, kind=data["kind"], tone=data["tone"], length=data["length"],
                        instructions=data["instructions"], category=data["category"] if in_category else None,
                        product_ids=None if in_category else list(queryset.values_list("pk", flat=True)),
                    )
                except ApplicationError as error:
                    self.message_user(request, error.message, messages.ERROR)
                    return None
                self.message_user(request, f"Copy job #{job.pk} queued for {job.total} products.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:copywriter_copyjob_change", args=[job.pk]))
        else:
            categories = set(queryset.values_list("category_id", flat=True))
            form = GenerateCopyForm(initial={"category": next(iter(categories)) if len(categories) == 1 else None})
        context = {
            **self.admin_site.each_context(request),
            "title": "Generate copy",
            "opts": self.model._meta,
            "form": form,
            "products": queryset[:20],
            "count": queryset.count(),
            "selected_ids": queryset.values_list("pk", flat=True),
            "quota_left": services.quota_left(user=request.user),
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/copywriter/generate_copy.html", context)


admin.site.unregister(Product)
admin.site.register(Product, CopyProductAdmin)


# ----------------------------------------------------------------------------------------------- jobs


def progress_bar(*, total: int, finished: int, flagged: int) -> SafeString:
    percent = 100 if total == 0 else round(100 * finished / total)
    return format_html(
        '<progress max="100" value="{}" style="width:8em"></progress> {}% ({} of {}{})',
        percent, percent, finished, total, f", {flagged} flagged" if flagged else "",
    )


@admin.register(CopyJob)
class CopyJobAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "tone", "status", "progress", "created_by", "created_at"]
    list_filter = ["status", "kind"]
    list_select_related = ["created_by"]
    readonly_fields = [
        "kind", "tone", "length", "instructions", "category", "status", "progress", "drafts_link", "model_version",
        "error", "created_by", "created_at", "started_at", "finished_at",
    ]
    fields = readonly_fields
    actions = ["cancel_jobs", "resume_jobs"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # jobs start from the products list ("Generate copy…") or the API

    def get_queryset(self, request: HttpRequest) -> QuerySet[CopyJob]:
        # distinct=True: items and drafts are two joins, which would otherwise multiply each other's counts.
        return super().get_queryset(request).annotate(
            _items=Count("items", distinct=True),
            _finished=Count(
                "items", filter=Q(items__status__in=[ItemStatus.DONE, ItemStatus.FAILED]), distinct=True
            ),
            _flagged=Count("drafts", filter=Q(drafts__flagged=True), distinct=True),
        )

    @admin.display(description="Progress")
    def progress(self, job: CopyJob) -> SafeString:
        return progress_bar(total=job._items, finished=job._finished, flagged=job._flagged)

    @admin.display(description="Drafts")
    def drafts_link(self, job: CopyJob) -> SafeString:
        url = reverse("admin:copywriter_copydraft_changelist") + f"?job__id__exact={job.pk}"
        return format_html('<a href="{}">Review the drafts of this job</a>', url)

    def get_urls(self) -> list:
        return [
            path("<int:job_id>/cancel/", self.admin_site.admin_view(self.cancel_view), name="copywriter_copyjob_cancel"),
            *super().get_urls(),
        ]

    def cancel_view(self, request: HttpRequest, job_id: int) -> HttpResponse:
        """GET: confirm; POST: cancel the job."""
        job = get_object_or_404(CopyJob, pk=job_id)
        if not self.has_change_permission(request, job):
            return HttpResponse(status=403)
        if request.method == "POST":
            self._apply(request, [job], services.copy_job_cancel, "cancelled")
            return HttpResponseRedirect(reverse("admin:copywriter_copyjob_change", args=[job.pk]))
        context = {**self.admin_site.each_context(request), "title": f"Cancel {job}?", "job": job, "opts": self.model._meta}
        return TemplateResponse(request, "admin/copywriter/cancel_job.html", context)

    @admin.action(description="Cancel the selected jobs", permissions=["change"])
    def cancel_jobs(self, request: HttpRequest, queryset: QuerySet[CopyJob]) -> None:
        self._apply(request, queryset, services.copy_job_cancel, "cancelled")

    @admin.action(description="Resume the selected jobs (queue their unfinished chunks again)", permissions=["change"])
    def resume_jobs(self, request: HttpRequest, queryset: QuerySet[CopyJob]) -> None:
        self._apply(request, queryset, services.copy_job_resume, "resumed")

    def _apply(self, request: HttpRequest, jobs: Any, service: Any, verb: str) -> None:
        for job in jobs:
            try:
                service(job=job)
            except ApplicationError as error:
                self.message_user(request, f"Job #{job.pk}: {error.message}", messages.WARNING)
            else:
                self.message_user(request, f"Job #{job.pk} {verb}.", messages.SUCCESS)


# --------------------------------------------------------------------------------------------- drafts


def highlighted(text: str, findings: list[dict[str, Any]]) -> SafeString:
    """The text, escaped, with each grounding finding wrapped in <mark>: the only markup on the page that
    the text itself can never supply."""
    pieces: list[tuple[str, str]] = []
    position = 0
    for finding in sorted(findings, key=lambda f: int(f.get("start", 0))):
        start, end = int(finding.get("start", 0)), int(finding.get("end", 0))
        if start < position or end > len(text) or end <= start:
            continue  # findings of an older text: skip rather than mark the wrong words
        pieces.append(("", text[position:start]))
        pieces.append((str(finding.get("kind", "")), text[start:end]))
        position = end
    pieces.append(("", text[position:]))
    return format_html_join(
        "", "{}", (
            (format_html('<mark class="copy-finding" title="not in the product facts: {}">{}</mark>', kind, piece)
             if kind else piece,)
            for kind, piece in pieces
        )
    )


class DraftEditForm(forms.Form):
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 8, "cols": 70}), max_length=5000)


_OPERATIONS = {
    "approve": (services.copy_draft_approve, "Approved and published."),
    "reject": (services.copy_draft_reject, "Rejected."),
    "revert": (services.copy_draft_revert, "Reverted: the product shows its previous text again."),
    "regenerate": (services.copy_draft_regenerate, "Regenerated."),
}


@admin.register(CopyDraft)
class CopyDraftAdmin(admin.ModelAdmin):
    list_display = ["product", "kind", "status", "flagged", "edited", "feedback", "job", "created_at"]
    list_filter = ["status", "flagged", "kind", "job"]
    list_select_related = ["product", "job"]
    search_fields = ["product__title", "product__brand", "text"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        """The review page in place of the model form."""
        draft = selectors.draft_for_review(draft_id=int(object_id)) if object_id.isdigit() else None
        if draft is None:
            return self._get_obj_does_not_exist_redirect(request, self.model._meta, object_id)
        if not self.has_change_permission(request, draft):
            return HttpResponse(status=403)
        form = DraftEditForm(initial={"text": draft.text})
        if request.method == "POST":
            response, form = self._review_post(request, draft)
            if response is not None:
                return response
        context = {
            **self.admin_site.each_context(request),
            "title": f"Review {draft.get_kind_display().lower()}: {draft.product.title}",
            "opts": self.model._meta,
            "draft": draft,
            "current_text": selectors.current_copy(product=draft.product, kind=draft.kind),
            "draft_html": highlighted(draft.text, draft.findings),
            "form": form,
            "product_url": reverse("admin:catalog_product_change", args=[draft.product_id]),
        }
        return TemplateResponse(request, "admin/copywriter/review_draft.html", context)

    def _review_post(self, request: HttpRequest, draft: CopyDraft) -> tuple[HttpResponse | None, DraftEditForm]:
        operation = request.POST.get("op", "")
        form = DraftEditForm(request.POST if operation == "save" else None, initial={"text": draft.text})
        try:
            if operation == "save":
                if not form.is_valid():
                    return None, form
                services.copy_draft_edit(draft=draft, text=form.cleaned_data["text"], user=request.user)
                message = "Saved."
            elif operation in ("thumbs_up", "thumbs_down"):
                services.copy_draft_feedback(draft=draft, value=1 if operation == "thumbs_up" else -1)
                message = "Thanks for the feedback."
            elif operation in _OPERATIONS:
                service, message = _OPERATIONS[operation]
                service(draft=draft, user=request.user)
            else:
                self.message_user(request, "Unknown operation.", messages.ERROR)
                return None, form
        except ApplicationError as error:
            self.message_user(request, error.message, messages.ERROR)
        else:
            self.message_user(request, message, messages.SUCCESS)
        return HttpResponseRedirect(request.path), form
