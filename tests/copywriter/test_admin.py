"""The admin workflow through the test client as staff: the "Generate copy…" action and its form, the job
page with progress and cancel, and the draft review page (escaped text, highlighted findings, operations)."""
import pytest
from django.test.utils import CaptureQueriesContext
from django.db import connection

from catalog.models import Product
from copywriter import services
from copywriter.models import CopyDraft, CopyJob, DraftStatus, JobStatus

PRODUCTS = "/admin/catalog/product/"


def post_action(client, products, follow=False, **data):
    return client.post(PRODUCTS, {"action": "generate_copy", "_selected_action": [p.pk for p in products], **data},
                       follow=follow)


def test_the_action_shows_the_form_for_the_selected_products(staff_client, make_product):
    products = [make_product(), make_product()]

    response = post_action(staff_client, products)

    html = response.content.decode()
    assert response.status_code == 200
    assert "Generate copy" in html and products[0].title in html
    assert 'name="kind"' in html and 'name="tone"' in html and 'name="instructions"' in html
    assert CopyJob.objects.count() == 0


def test_applying_the_form_queues_a_job_that_generates_drafts(staff_client, make_product, faithful,
                                                              django_capture_on_commit_callbacks):
    products = [make_product(), make_product()]

    with django_capture_on_commit_callbacks(execute=True):
        response = post_action(staff_client, products, apply="Generate", kind="promo", tone="playful",
                               length="short", instructions="festive", scope="selected")

    job = CopyJob.objects.get()
    assert response.status_code == 302 and response.url == f"/admin/copywriter/copyjob/{job.pk}/change/"
    assert (job.kind, job.tone, job.instructions, job.total, job.created_by) == (
        "promo", "playful", "festive", 2, staff_client.user)
    assert job.status == JobStatus.DONE and CopyDraft.objects.filter(job=job).count() == 2


def test_the_form_can_cover_a_whole_category(staff_client, make_product, category, faithful,
                                             django_capture_on_commit_callbacks):
    selected = make_product()
    make_product()

    with django_capture_on_commit_callbacks(execute=True):
        post_action(staff_client, [selected], apply="Generate", kind="seo_title", tone="neutral", length="medium",
                    scope="category", category=category.pk)

    assert CopyJob.objects.get().total == 2


def test_an_invalid_form_is_shown_again_with_its_errors(staff_client, make_product):
    response = post_action(staff_client, [make_product()], apply="Generate", kind="essay", tone="neutral",
                           length="short", scope="category")

    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert CopyJob.objects.count() == 0


def test_the_quota_error_is_shown_as_a_message(staff_client, make_product, settings):
    settings.COPY_DAILY_QUOTA = 1

    response = post_action(staff_client, [make_product(), make_product()], apply="Generate", kind="promo",
                           tone="neutral", length="short", scope="selected", follow=True)

    assert "of today&#x27;s 1 are left" in response.content.decode()
    assert CopyJob.objects.count() == 0


def test_the_product_list_shows_copy_progress_in_a_fixed_number_of_queries(
    staff_client, make_product, merchant, faithful, django_capture_on_commit_callbacks
):
    products = [make_product() for _ in range(3)]
    with django_capture_on_commit_callbacks(execute=True):
        services.copy_job_create(user=merchant, kind="promo", product_ids=[products[0].pk])
    services.copy_job_create(user=merchant, kind="promo", product_ids=[products[1].pk])  # queued, not run

    with CaptureQueriesContext(connection) as few:
        html = staff_client.get(PRODUCTS).content.decode()
    for _ in range(5):
        make_product()
    with CaptureQueriesContext(connection) as more:
        staff_client.get(PRODUCTS)

    assert "1 to review" in html and "generating…" in html
    assert len(more) == len(few)


def test_the_job_page_shows_progress_and_can_cancel(staff_client, make_product, merchant):
    job = services.copy_job_create(user=merchant, kind="promo", product_ids=[make_product().pk])

    page = staff_client.get(f"/admin/copywriter/copyjob/{job.pk}/change/").content.decode()
    assert "<progress" in page and "0% (0 of 1)" in page and "Cancel job" in page
    assert staff_client.get("/admin/copywriter/copyjob/").status_code == 200

    confirm = staff_client.get(f"/admin/copywriter/copyjob/{job.pk}/cancel/")
    assert confirm.status_code == 200
    response = staff_client.post(f"/admin/copywriter/copyjob/{job.pk}/cancel/")

    job.refresh_from_db()
    assert response.status_code == 302 and job.status == JobStatus.CANCELLED


@pytest.fixture
def markup_draft(merchant, make_product, planted, django_capture_on_commit_callbacks):
    planted(lambda request, attempt: 'Blue shirt <img src=x onerror="alert(1)"> & Red <script>x</script>')
    product = make_product(description="Old <b>bold</b> text")
    with django_capture_on_commit_callbacks(execute=True):
        job = services.copy_job_create(user=merchant, kind="description", product_ids=[product.pk])
    draft = CopyDraft.objects.get(job=job)
    # What a merchant's edit or an old row could hold: markup in the stored text itself.
    CopyDraft.objects.filter(pk=draft.pk).update(
        text='<script>alert("x")</script> Red shirt', findings=[{"kind": "colour", "text": "Red", "start": 28, "end": 31}]
    )
    return CopyDraft.objects.get(pk=draft.pk)


def test_a_draft_containing_markup_is_shown_escaped_with_its_finding_highlighted(staff_client, markup_draft):
    html = staff_client.get(f"/admin/copywriter/copydraft/{markup_draft.pk}/change/").content.decode()

    assert '<script>alert("x")</script>' not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; " in html
    assert '<mark class="copy-finding" title="not in the product facts: colour">Red</mark> shirt' in html
    assert "Old &lt;b&gt;bold&lt;/b&gt; text" in html  # the current text, side by side
    assert "<b>bold</b>" not in html


def test_generated_markup_never_reaches_the_draft(markup_draft):
    job_draft = CopyDraft.objects.exclude(pk=markup_draft.pk).first()
    assert job_draft is None  # one draft only; its generated text was cleaned before storing
    assert "<" not in services.grounding.clean_output('x <img src=x onerror="alert(1)"> y', "promo")


def test_the_review_page_approves_rejects_reverts_edits_and_records_thumbs(staff_client, make_product, faithful,
                                                                          merchant, django_capture_on_commit_callbacks):
    product = make_product(description="Old text")
    with django_capture_on_commit_callbacks(execute=True):
        job = services.copy_job_create(user=merchant, kind="description", product_ids=[product.pk])
    draft = CopyDraft.objects.get(job=job)
    url = f"/admin/copywriter/copydraft/{draft.pk}/change/"

    staff_client.post(url, {"op": "save", "text": "Blue checked shirt from Parx."})
    staff_client.post(url, {"op": "thumbs_up"})
    response = staff_client.post(url, {"op": "approve"})

    draft.refresh_from_db()
    assert response.status_code == 302
    assert (draft.text, draft.edited, draft.feedback, draft.status) == (
        "Blue checked shirt from Parx.", True, 1, DraftStatus.APPROVED)
    assert Product.objects.get(pk=product.pk).description == "Blue checked shirt from Parx."

    staff_client.post(url, {"op": "revert"})
    assert Product.objects.get(pk=product.pk).description == "Old text"
    staff_client.post(url, {"op": "reject"})
    draft.refresh_from_db()
    assert draft.status == DraftStatus.REJECTED

    page = staff_client.get(url, follow=True).content.decode()
    assert "Rejected" in page


def test_the_review_page_regenerates(staff_client, make_product, faithful, merchant, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        job = services.copy_job_create(user=merchant, kind="promo", product_ids=[make_product().pk])
    draft = CopyDraft.objects.get(job=job)

    staff_client.post(f"/admin/copywriter/copydraft/{draft.pk}/change/", {"op": "regenerate"})

    draft.refresh_from_db()
    assert draft.attempts == 2


def test_the_drafts_list_opens(staff_client, make_product, faithful, merchant, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.copy_job_create(user=merchant, kind="promo", product_ids=[make_product().pk])

    assert staff_client.get("/admin/copywriter/copydraft/").status_code == 200
    assert staff_client.get("/admin/copywriter/copydraft/?flagged__exact=1").status_code == 200


def test_admin_pages_need_staff(client, make_product):
    assert client.get("/admin/copywriter/copyjob/").status_code == 302


def test_published_copy_is_escaped_on_the_storefront_and_fills_title_and_meta(
    client, make_product, faithful, merchant, django_capture_on_commit_callbacks
):
    product = make_product()
    with django_capture_on_commit_callbacks(execute=True):
        job = services.copy_job_create(user=merchant, kind="seo_title", product_ids=[product.pk])
    draft = CopyDraft.objects.get(job=job)
    CopyDraft.objects.filter(pk=draft.pk).update(text='Blue <script>alert("x")</script> shirt')
    services.copy_draft_approve(draft=CopyDraft.objects.get(pk=draft.pk), user=merchant)

    html = client.get(product.get_absolute_url()).content.decode()

    assert "<title>Blue &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; shirt</title>" in html
    assert '<script>alert("x")</script>' not in html
