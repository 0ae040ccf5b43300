"""The catalog REST API: /api/products/, /api/products/{slug}/, /api/categories/."""
import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient


@pytest.fixture
def api() -> APIClient:
    return APIClient()


def _slugs(response) -> list[str]:
    return [item["slug"] for item in response.json()["results"]]


def test_product_list_pages_active_products_with_card_fields(api, shop_catalog):
    response = api.get("/api/products/", {"sort": "price_asc", "page_size": 2})

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 6
    assert _slugs(response) == ["white-top", "green-shirt-dress"]
    assert body["results"][1] == {
        "id": shop_catalog["products"]["green-shirt-dress"].pk,
        "slug": "green-shirt-dress",
        "title": "Green Shirt Dress",
        "brand": "Lumen",
        "category": {"slug": "women-dresses", "name": "Dresses"},
        "price": "999.00",
        "currency": "INR",
        "colour": "Green",
        "audience": "women",
        "stock_state": "out",
        "url": "/p/green-shirt-dress/",
    }


def test_product_list_filters_by_query_category_brand_and_price(api, shop_catalog):
    params = {"q": "dress", "category": "women", "brand": "Petal", "min_price": "1000", "max_price": "2000"}

    response = api.get("/api/products/", params)

    assert response.status_code == 200
    assert _slugs(response) == ["red-wrap-dress"]


def test_product_list_accepts_repeated_brand_parameters(api, shop_catalog):
    response = api.get("/api/products/?brand=Regal&brand=Northern&sort=price_desc")

    assert _slugs(response) == ["oxford-shirt", "linen-shirt"]


@pytest.mark.parametrize(
    "params, field",
    [
        ({"min_price": "foo"}, "min_price"),
        ({"max_price": "-5"}, "max_price"),
        ({"min_price": "900", "max_price": "100"}, "max_price"),
        ({"sort": "cheapest"}, "sort"),
        ({"page": "abc"}, "page"),
        ({"page": "0"}, "page"),
        ({"page_size": "1000"}, "page_size"),
        ({"audience": "aliens"}, "audience"),
        ({"q": "x" * 201}, "q"),
    ],
)
def test_product_list_with_a_bad_parameter_answers_400_naming_it(api, shop_catalog, params, field):
    response = api.get("/api/products/", params)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_parameter"
    assert list(error["fields"]) == [field]
    assert error["message"].startswith(f"{field}: ")


def test_product_list_with_an_unknown_category_answers_400(api, shop_catalog):
    response = api.get("/api/products/", {"category": "nope"})

    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "invalid_parameter",
        "message": "category: no category with slug 'nope'",
        "fields": {"category": ["Unknown category."]},
    }


def test_product_list_beyond_the_last_page_answers_404(api, shop_catalog):
    response = api.get("/api/products/", {"page": 9})

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_product_detail_has_variants_and_breadcrumbs(api, shop_catalog):
    response = api.get("/api/products/oxford-shirt/")

    assert response.status_code == 200
    body = response.json()
    assert body["breadcrumbs"] == [{"slug": "men", "name": "Men"}, {"slug": "men-shirts", "name": "Shirts"}]
    assert body["stock_state"] == "in"
    assert body["variants"] == [
        {"sku": "OXFORD-SHIRT-M", "size": "M", "colour": "Blue", "price": "1800.00", "stock": 4, "stock_state": "low"},
        {"sku": "OXFORD-SHIRT-L", "size": "L", "colour": "Blue", "price": "1800.00", "stock": 20, "stock_state": "in"},
    ]


def test_product_detail_of_an_unknown_slug_answers_404_json(api, shop_catalog):
    response = api.get("/api/products/no-such-thing/")

    assert response.status_code == 404
    assert response.json() == {
        "error": {"code": "not_found", "message": "No product with slug 'no-such-thing'.", "fields": {}}
    }


def test_category_list_is_the_tree_with_counts(api, shop_catalog):
    response = api.get("/api/categories/")

    assert response.status_code == 200
    men, women = response.json()
    assert (men["slug"], men["product_count"]) == ("men", 2)
    assert [(c["slug"], c["product_count"], c["children"]) for c in women["children"]] == [
        ("women-dresses", 3, []),
        ("women-tops", 1, []),
    ]
    assert women["url"] == "/c/women/"


def test_product_list_num_queries_is_the_same_for_any_page_size(api, make_product):
    for n in range(30):
        make_product(variants=[{"size": "M"}, {"size": "L"}])

    def count(page_size: int) -> int:
        cache.clear()  # a cold cache each time: count every query a miss costs
        with CaptureQueriesContext(connection) as queries:
            response = api.get("/api/products/", {"page_size": page_size, "category": "misc"})
        assert len(response.json()["results"]) == page_size
        return len(queries)

    assert count(5) == count(25)
