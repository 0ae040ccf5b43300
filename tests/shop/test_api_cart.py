import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from shop.models import Cart

CART_URL = "/api/cart/"
ITEMS_URL = "/api/cart/items/"


def test_get_cart_for_a_new_visitor_is_empty_and_creates_no_session(api_client, db):
    response = api_client.get(CART_URL)

    assert response.status_code == 200
    assert response.json()["items"] == [] and response.json()["item_count"] == 0
    assert "sessionid" not in response.cookies


def test_a_guest_adds_an_item_and_finds_it_in_their_session_cart(api_client, make_variant):
    variant = make_variant(price="499.00", stock=5)

    added = api_client.post(ITEMS_URL, {"sku": variant.sku, "quantity": 2}, format="json")
    cart = api_client.get(CART_URL).json()

    assert added.status_code == 201
    assert "sessionid" in added.cookies
    assert [(item["sku"], item["quantity"], item["line_total"]) for item in cart["items"]] == [(variant.sku, 2, "998.00")]
    assert (cart["subtotal"], cart["item_count"], cart["currency"]) == ("998.00", 2, "INR")
    assert len(cart["version"]) == 16


def test_a_shopper_sees_only_their_own_cart(shopper_api, other_shopper, make_variant, cart_with):
    cart_with(other_shopper, {make_variant(): 1})

    assert shopper_api.get(CART_URL).json()["items"] == []


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"sku": "NO-SUCH-SKU", "quantity": 1}, 400, "unknown_sku", "sku"),
        ({"sku": "{sku}", "quantity": 0}, 400, "invalid_quantity", "quantity"),
        ({"sku": "{sku}", "quantity": -3}, 400, "invalid_quantity", "quantity"),
        ({"sku": "{sku}", "quantity": 6}, 409, "insufficient_stock", "quantity"),
        ({"sku": "{sku}", "quantity": 100}, 400, "quantity_too_large", "quantity"),
        ({"sku": "{sku}", "quantity": 10**30}, 400, "quantity_too_large", "quantity"),
        ({"sku": "{sku}", "quantity": "three"}, 400, "invalid", "quantity"),
        ({"sku": "{sku}", "quantity": 1.5}, 400, "invalid", "quantity"),
        ({"sku": "{sku}", "quantity": [1]}, 400, "invalid", "quantity"),
        ({"sku": {"nested": "object"}, "quantity": 1}, 400, "invalid", "sku"),
        ({"sku": "x" * 65, "quantity": 1}, 400, "invalid", "sku"),
        ({"quantity": 1}, 400, "invalid", "sku"),
        ({"sku": None, "quantity": 1}, 400, "invalid", "sku"),
    ],
)
def test_adding_bad_input_answers_4xx_naming_the_problem(api_client, make_variant, body, status, code, field):
    variant = make_variant(stock=5)
    if body.get("sku") == "{sku}":
        body = {**body, "sku": variant.sku}

    response = api_client.post(ITEMS_URL, body, format="json")

    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code
    assert field in error["fields"]
    assert error["message"]


def test_malformed_json_answers_400_malformed_request(api_client, db):
    response = api_client.post(ITEMS_URL, '{"sku": "A", "quantity": ', content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_request"


def test_a_json_list_instead_of_an_object_answers_400(api_client, db):
    response = api_client.post(ITEMS_URL, [{"sku": "A"}], format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"


def test_adding_an_inactive_variant_answers_409_variant_unavailable(api_client, make_variant):
    variant = make_variant(is_active=False)

    response = api_client.post(ITEMS_URL, {"sku": variant.sku, "quantity": 1}, format="json")

    assert (response.status_code, response.json()["error"]["code"]) == (409, "variant_unavailable")


def test_patch_sets_the_quantity_and_delete_removes_the_line(shopper_api, shopper, make_variant, cart_with):
    variant = make_variant(stock=10)
    item = cart_with(shopper, {variant: 1}).items.get()

    patched = shopper_api.patch(f"{ITEMS_URL}{item.pk}/", {"quantity": 4}, format="json")
    deleted = shopper_api.delete(f"{ITEMS_URL}{item.pk}/")

    assert patched.status_code == 200 and patched.json()["items"][0]["quantity"] == 4
    assert deleted.status_code == 200 and deleted.json()["items"] == []


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"quantity": 0}, 400, "invalid_quantity"),
        ({"quantity": 11}, 409, "insufficient_stock"),
        ({"quantity": 500}, 400, "quantity_too_large"),
        ({}, 400, "invalid"),
        ({"quantity": "lots"}, 400, "invalid"),
    ],
)
def test_patching_bad_quantities_answers_4xx(shopper_api, shopper, make_variant, cart_with, body, status, code):
    item = cart_with(shopper, {make_variant(stock=10): 1}).items.get()

    response = shopper_api.patch(f"{ITEMS_URL}{item.pk}/", body, format="json")

    assert (response.status_code, response.json()["error"]["code"]) == (status, code)


def test_another_shoppers_cart_line_answers_404(shopper_api, shopper, other_shopper, make_variant, cart_with):
    cart_with(shopper, {make_variant(): 1})
    their_item = cart_with(other_shopper, {make_variant(): 1}).items.get()

    patched = shopper_api.patch(f"{ITEMS_URL}{their_item.pk}/", {"quantity": 2}, format="json")
    deleted = shopper_api.delete(f"{ITEMS_URL}{their_item.pk}/")

    assert (patched.status_code, patched.json()["error"]["code"]) == (404, "cart_item_not_found")
    assert deleted.status_code == 404
    assert Cart.objects.get(user=other_shopper).items.count() == 1


def test_a_line_id_when_there_is_no_cart_answers_404(shopper_api):
    assert shopper_api.delete(f"{ITEMS_URL}12345/").status_code == 404


def test_get_cart_num_queries_do_not_grow_with_the_number_of_items(shopper_api, shopper, make_variant, cart_with):
    cart = cart_with(shopper, {make_variant(): 1})
    with CaptureQueriesContext(connection) as one_item:
        assert shopper_api.get(CART_URL).status_code == 200
    for variant in [make_variant() for _ in range(6)]:
        cart_with(shopper, {variant: 2})
    with CaptureQueriesContext(connection) as seven_items:
        response = shopper_api.get(CART_URL)

    assert len(response.json()["items"]) == 7 and cart.items.count() == 7
    assert len(seven_items) == len(one_item) <= 3


def test_a_line_id_beyond_any_database_integer_answers_404(shopper_api, shopper, make_variant, cart_with):
    cart_with(shopper, {make_variant(): 1})

    response = shopper_api.patch(f"{ITEMS_URL}{10**30}/", {"quantity": 1}, format="json")

    assert (response.status_code, response.json()["error"]["code"]) == (404, "cart_item_not_found")
