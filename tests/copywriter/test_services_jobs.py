"""Jobs: chunking, batched generation per chunk, resume after a crash without duplicate drafts, cancel, and
the daily quota."""
import pytest
from django.db import IntegrityError

from copywriter import generation, selectors, services
from copywriter.models import CopyDraft, CopyJob, CopyJobItem, CopyUsage, ItemStatus, JobStatus
from shop.errors import ApplicationError


def create(merchant, products, django_capture_on_commit_callbacks, *, execute=True, **fields):
    with django_capture_on_commit_callbacks(execute=execute) as callbacks:
        job = services.copy_job_create(user=merchant, kind=fields.pop("kind", "description"),
                                       product_ids=[p.pk for p in products], **fields)
    job.refresh_from_db()
    return job, callbacks


def test_a_job_is_split_into_chunks_and_every_product_gets_one_draft(
    merchant, make_product, faithful, django_capture_on_commit_callbacks
):
    products = [make_product() for _ in range(5)]

    job, _ = create(merchant, products, django_capture_on_commit_callbacks, chunk_size=2)

    assert job.chunks == 3
    assert sorted(CopyJobItem.objects.filter(job=job).values_list("chunk", flat=True)) == [0, 0, 1, 1, 2]
    assert job.status == JobStatus.DONE and job.finished_at is not None
    assert CopyDraft.objects.filter(job=job).count() == 5
    draft = CopyDraft.objects.get(job=job, product=products[0])
    assert draft.text == "Blue shirt from Parx, a neat everyday pick."
    assert (draft.flagged, draft.findings, draft.model_version) == (False, [], "base")
    assert selectors.job_progress(job=job).percent == 100


def test_a_chunk_generates_in_batches(merchant, make_product, faithful, django_capture_on_commit_callbacks):
    calls = faithful
    products = [make_product() for _ in range(10)]

    create(merchant, products, django_capture_on_commit_callbacks, chunk_size=10)

    assert calls == [(8, 0), (2, 0)]


def test_a_crashed_chunk_resumes_without_duplicating_drafts(
    merchant, make_product, planted, django_capture_on_commit_callbacks, monkeypatch
):
    products = [make_product() for _ in range(12)]
    crash = {"after": 1}

    def writer(request, attempt):
        return f"{request.facts.colour} shirt from Parx."

    calls = planted(writer)
    real = generation._complete

    def crashing(engine, requests, attempt):
        if crash["after"] == 0:
            raise SystemExit("worker killed")  # not an Exception: like a dying worker, nothing catches it
        crash["after"] -= 1
        return real(engine, requests, attempt)

    monkeypatch.setattr(generation, "_complete", crashing)
    job, callbacks = create(merchant, products, django_capture_on_commit_callbacks, execute=False, chunk_size=12)
    with pytest.raises(SystemExit):
        callbacks[0]()  # the chunk task dies after its first batch of 8

    assert CopyDraft.objects.filter(job=job).count() == 8
    assert CopyJobItem.objects.filter(job=job, status=ItemStatus.PENDING).count() == 4

    crash["after"] = 99
    services.copy_job_run_chunk(job_id=job.pk, chunk=0)  # the redelivered task
    services.copy_job_run_chunk(job_id=job.pk, chunk=0)  # and a duplicate delivery

    job.refresh_from_db()
    assert job.status == JobStatus.DONE
    assert CopyDraft.objects.filter(job=job).count() == 12
    assert calls == [(8, 0), (4, 0)]  # the resumed run generated only the 4 that were missing


def test_a_draft_is_unique_per_job_product_and_kind(merchant, make_product, faithful, django_capture_on_commit_callbacks):
    job, _ = create(merchant, [make_product()], django_capture_on_commit_callbacks)
    draft = CopyDraft.objects.get(job=job)

    with pytest.raises(IntegrityError):
        CopyDraft.objects.create(job=job, product=draft.product, kind=draft.kind, text="again")


def test_resume_queues_only_chunks_with_pending_items(merchant, make_product, faithful, django_capture_on_commit_callbacks):
    job, callbacks = create(merchant, [make_product() for _ in range(5)], django_capture_on_commit_callbacks,
                            execute=False, chunk_size=2)
    services.copy_job_run_chunk(job_id=job.pk, chunk=1)

    with django_capture_on_commit_callbacks(execute=True):
        chunks = services.copy_job_resume(job=job)

    assert chunks == [0, 2]
    job.refresh_from_db()
    assert job.status == JobStatus.DONE and CopyDraft.objects.filter(job=job).count() == 5


def test_cancel_skips_pending_items_and_stops_running_chunks(
    merchant, make_product, faithful, django_capture_on_commit_callbacks
):
    job, _ = create(merchant, [make_product() for _ in range(20)], django_capture_on_commit_callbacks,
                    execute=False, chunk_size=10)
    services.copy_job_run_chunk(job_id=job.pk, chunk=0)

    services.copy_job_cancel(job=job)
    written = services.copy_job_run_chunk(job_id=job.pk, chunk=1)  # a chunk delivered after the cancel

    job.refresh_from_db()
    assert (job.status, written) == (JobStatus.CANCELLED, 0)
    assert CopyDraft.objects.filter(job=job).count() == 10
    assert CopyJobItem.objects.filter(job=job, status=ItemStatus.SKIPPED).count() == 10
    with pytest.raises(ApplicationError) as error:
        services.copy_job_cancel(job=job)
    assert error.value.status_code == 409


def test_a_running_chunk_stops_at_its_next_batch_once_cancelled(
    merchant, make_product, planted, django_capture_on_commit_callbacks
):
    job_ref = {}

    def writer(request, attempt):
        CopyJob.objects.filter(pk=job_ref["id"]).update(status=JobStatus.CANCELLED)  # merchant cancels meanwhile
        return "Blue shirt."

    planted(writer)
    job, callbacks = create(merchant, [make_product() for _ in range(12)], django_capture_on_commit_callbacks,
                            execute=False, chunk_size=12)
    job_ref["id"] = job.pk

    written = services.copy_job_run_chunk(job_id=job.pk, chunk=0)

    assert written == 8


def test_a_category_job_covers_the_category_and_below(merchant, make_product, category, faithful,
                                                      django_capture_on_commit_callbacks):
    from catalog.models import Category

    other = Category.objects.create(name="Other", slug="other")
    inside = [make_product(), make_product()]
    make_product(category=other)
    make_product(is_active=False)

    with django_capture_on_commit_callbacks(execute=True):
        job = services.copy_job_create(user=merchant, kind="seo_title", category=category.parent)

    assert sorted(CopyJobItem.objects.filter(job=job).values_list("product_id", flat=True)) == [p.pk for p in inside]


def test_model_failure_fails_the_batch_not_the_job(merchant, make_product, monkeypatch, django_capture_on_commit_callbacks):
    def broken(engine, requests, attempt):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(generation, "_complete", broken)
    job, _ = create(merchant, [make_product()], django_capture_on_commit_callbacks)

    assert job.status == JobStatus.FAILED
    assert CopyJobItem.objects.get(job=job).error == "generation failed: out of memory"


def test_the_daily_quota_is_enforced_and_counted(merchant, make_product, faithful, settings,
                                                 django_capture_on_commit_callbacks):
    settings.COPY_DAILY_QUOTA = 5
    products = [make_product() for _ in range(4)]
    create(merchant, products, django_capture_on_commit_callbacks)

    with pytest.raises(ApplicationError) as error:
        create(merchant, products[:2], django_capture_on_commit_callbacks)

    assert (error.value.code, error.value.status_code) == ("quota_exceeded", 429)
    assert CopyJob.objects.count() == 1
    assert CopyUsage.objects.get(user=merchant).count == 4
    assert services.quota_left(user=merchant) == 1
    create(merchant, products[:1], django_capture_on_commit_callbacks)  # the last one still fits
    assert services.quota_left(user=merchant) == 0


@pytest.mark.parametrize("fields, code", [
    ({"kind": "essay"}, "invalid"),
    ({"kind": "promo", "tone": "angry"}, "invalid"),
])
def test_invalid_jobs_are_refused(merchant, make_product, fields, code):
    with pytest.raises(ApplicationError) as error:
        services.copy_job_create(user=merchant, product_ids=[make_product().pk], **fields)
    assert error.value.code == code


def test_a_job_without_products_is_refused(merchant, db):
    with pytest.raises(ApplicationError) as error:
        services.copy_job_create(user=merchant, kind="promo", product_ids=[999])
    assert error.value.code == "no_products"
