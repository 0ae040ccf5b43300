"""GET /api/recommendations/: validation in the shop's error shape, and the blocks."""
import pytest
from rest_framework.test import APIClient


@pytest.fixture
def client() -> APIClient:
    return APIClient()


@pytest.mark.parametrize("query, field", [
    ("", "context"),
    ("?context=checkout", "context"),
    ("?context=product", "product"),
    ("?context=home&limit=0", "limit"),
    ("?context=home&limit=51", "limit"),
    ("?context=home&limit=many", "limit"),
])
def test_bad_parameters_answer_400_naming_the_field(client, store, query, field):
    response = client.get(f"/api/recommendations/{query}")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert field in response.json()["error"]["fields"]


def test_an_unknown_product_answers_404(client, store):
    response = client.get("/api/recommendations/?context=product&product=no-such-thing")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "product_not_found"


def test_home_recommendations_for_a_guest(client, store):
    response = client.get("/api/recommendations/?context=home&limit=2")
    assert response.status_code == 200
    body = response.json()
    assert body["context"] == "home"
    block = body["blocks"][0]
    assert block["key"] == "home" and block["title"] == "Recommended for you"
    assert [item["slug"] for item in block["items"]] == [store["run-shoes"].slug, store["pan"].slug]
    assert set(block["items"][0]) == {"id", "slug", "title", "brand", "price", "currency", "url", "reason", "source"}


def test_product_recommendations_have_two_blocks(client, shoppers, store):
    response = client.get(f"/api/recommendations/?context=product&product={store['pan'].slug}&limit=3")
    assert [block["key"] for block in response.json()["blocks"]] == ["also_bought", "similar"]
