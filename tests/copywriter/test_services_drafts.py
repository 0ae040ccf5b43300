"""Drafts: edit (checked again), approve publishes and keeps the old text, revert, reject, regenerate
(quota-counted), thumbs."""
import pytest

from catalog.models import Product
from copywriter import services
from copywriter.models import CopyDraft, CopyUsage, DraftStatus
from shop.errors import ApplicationError


@pytest.fixture
def make_draft(merchant, make_product, faithful, django_capture_on_commit_callbacks):
    def make(kind: str = "description", **product_fields) -> CopyDraft:
        product = make_product(**product_fields)
        with django_capture_on_commit_callbacks(execute=True):
            job = services.copy_job_create(user=merchant, kind=kind, product_ids=[product.pk])
        return CopyDraft.objects.get(job=job)

    return make


def test_approve_publishes_and_keeps_the_old_text_then_revert_restores_it(make_draft, merchant):
    draft = make_draft(description="The old description.")

    draft = services.copy_draft_approve(draft=draft, user=merchant)

    product = Product.objects.get(pk=draft.product_id)
    assert product.description == "Blue shirt from Parx, a neat everyday pick."
    assert (draft.status, draft.previous_text, draft.reviewed_by) == (DraftStatus.APPROVED, "The old description.", merchant)

    services.copy_draft_revert(draft=draft, user=merchant)

    product.refresh_from_db()
    draft.refresh_from_db()
    assert product.description == "The old description."
    assert (draft.status, draft.previous_text) == (DraftStatus.DRAFT, "")


@pytest.mark.parametrize("kind, field", [("seo_title", "seo_title"), ("seo_meta", "seo_description")])
def test_seo_drafts_fill_the_products_seo_fields(make_draft, merchant, kind, field):
    draft = make_draft(kind=kind)

    services.copy_draft_approve(draft=draft, user=merchant)

    assert getattr(Product.objects.get(pk=draft.product_id), field) == draft.text


def test_promo_is_published_into_the_attributes_and_revert_removes_it(make_draft, merchant):
    draft = make_draft(kind="promo")

    services.copy_draft_approve(draft=draft, user=merchant)
    assert Product.objects.get(pk=draft.product_id).attributes["promo_line"] == draft.text

    services.copy_draft_revert(draft=draft, user=merchant)
    assert "promo_line" not in Product.objects.get(pk=draft.product_id).attributes


def test_an_edit_is_cleaned_and_checked_again(make_draft, merchant):
    draft = make_draft()

    draft = services.copy_draft_edit(draft=draft, text="<b>Red</b> shirt from Parx.", user=merchant)

    assert draft.text == "Red shirt from Parx." and draft.edited
    assert draft.flagged and draft.findings == [{"kind": "colour", "text": "Red", "start": 0, "end": 3}]


def test_reject_publishes_nothing_and_a_reviewed_draft_cannot_be_approved(make_draft, merchant):
    draft = make_draft(description="Keep me.")

    services.copy_draft_reject(draft=draft, user=merchant)

    assert Product.objects.get(pk=draft.product_id).description == "Keep me."
    with pytest.raises(ApplicationError) as error:
        services.copy_draft_approve(draft=draft, user=merchant)
    assert error.value.status_code == 409


def test_regenerate_samples_a_new_text_and_counts_against_the_quota(make_draft, merchant, planted):
    draft = make_draft()
    calls = planted(lambda request, attempt: f"Blue shirt, take {attempt}.")

    draft = services.copy_draft_regenerate(draft=draft, user=merchant)

    assert draft.text == "Blue shirt, take 1." and draft.attempts == 2 and not draft.flagged
    assert calls == [(1, 1)]
    assert CopyUsage.objects.get(user=merchant).count == 2


def test_regenerate_is_refused_when_the_quota_is_spent(make_draft, merchant, settings):
    draft = make_draft()
    settings.COPY_DAILY_QUOTA = 1

    with pytest.raises(ApplicationError) as error:
        services.copy_draft_regenerate(draft=draft, user=merchant)
    assert error.value.code == "quota_exceeded"


def test_thumbs_are_recorded(make_draft):
    draft = make_draft()

    services.copy_draft_feedback(draft=draft, value=-1)

    assert CopyDraft.objects.get(pk=draft.pk).feedback == -1
    with pytest.raises(ApplicationError):
        services.copy_draft_feedback(draft=draft, value=5)
