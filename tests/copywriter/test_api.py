"""POST /api/copy/jobs/ and GET /api/copy/jobs/{id}/: staff only, validated, quota-checked, throttled."""
import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient
from rest_framework.throttling import ScopedRateThrottle

from copywriter.models import CopyDraft, CopyJob

URL = "/api/copy/jobs/"


@pytest.fixture
def staff_api(merchant):
    client = APIClient()
    client.force_authenticate(merchant)
    return client


def test_staff_create_a_job_and_follow_its_progress(staff_api, make_product, faithful, django_capture_on_commit_callbacks):
    products = [make_product(), make_product()]

    with django_capture_on_commit_callbacks(execute=True):
        response = staff_api.post(URL, {"kind": "seo_meta", "product_ids": [p.pk for p in products]}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["kind"], body["tone"], body["length"], body["total"]) == ("seo_meta", "neutral", "medium", 2)
    detail = staff_api.get(f"{URL}{body['id']}/").json()
    assert detail["status"] == "done"
    assert detail["progress"] == {"done": 2, "failed": 0, "flagged": 0, "percent": 100}
    assert CopyDraft.objects.filter(job_id=body["id"]).count() == 2


def test_a_category_can_be_named_by_slug(staff_api, make_product, category, faithful, django_capture_on_commit_callbacks):
    make_product()

    with django_capture_on_commit_callbacks(execute=True):
        response = staff_api.post(URL, {"kind": "promo", "category": "men-shirts"}, format="json")

    assert response.status_code == 201 and response.json()["category"] == "men-shirts"


@pytest.mark.parametrize("user_kind, status", [("anonymous", 401), ("shopper", 403)])
def test_the_api_is_staff_only(db, make_product, user_kind, status):
    client = APIClient()
    if user_kind == "shopper":
        client.force_authenticate(get_user_model().objects.create_user(username="shopper", password="pw-123456"))

    create = client.post(URL, {"kind": "promo", "product_ids": [make_product().pk]}, format="json")

    assert create.status_code == status and create.json()["error"]["code"] in ("not_authenticated", "permission_denied")
    assert client.get(f"{URL}1/").status_code == status
    assert CopyJob.objects.count() == 0


@pytest.mark.parametrize("payload, field", [
    ({"kind": "essay", "product_ids": [1]}, "kind"),
    ({"kind": "promo"}, "product_ids"),
    ({"kind": "promo", "product_ids": [1], "category": "men-shirts"}, "product_ids"),
    ({"kind": "promo", "category": "nope"}, "category"),
    ({"kind": "promo", "product_ids": ["x"]}, "product_ids"),
])
def test_bad_input_is_a_400_in_the_one_error_shape(staff_api, category, payload, field):
    response = staff_api.post(URL, payload, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid" and field in response.json()["error"]["fields"]


def test_unknown_products_and_spent_quota_are_clear_errors(staff_api, make_product, settings):
    assert staff_api.post(URL, {"kind": "promo", "product_ids": [999]}, format="json").json()["error"]["code"] == "no_products"

    settings.COPY_DAILY_QUOTA = 1
    response = staff_api.post(URL, {"kind": "promo", "product_ids": [make_product().pk, make_product().pk]}, format="json")

    assert response.status_code == 429 and response.json()["error"]["code"] == "quota_exceeded"


def test_an_unknown_job_is_a_404(staff_api):
    response = staff_api.get(f"{URL}12345/")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_job_creation_is_throttled_by_the_copy_scope(staff_api, make_product, monkeypatch, faithful,
                                                     django_capture_on_commit_callbacks):
    # DRF binds the rates when the throttle class is defined, so the test lowers them there.
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {**ScopedRateThrottle.THROTTLE_RATES, "copy": "2/hour"})
    product = make_product()

    statuses = []
    for _ in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            statuses.append(staff_api.post(URL, {"kind": "promo", "product_ids": [product.pk]}, format="json").status_code)

    assert statuses == [201, 201, 429]
