import pytest
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.backends.db import SessionStore
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext

from shop.errors import NotFoundError
from shop.selectors import Owner, cart_item_count, order_get_for_owner, order_list_for_user, owner_from_request


def _request(*, user=None, session_key=None):
    request = RequestFactory().get("/")
    request.user = user or AnonymousUser()
    request.session = SessionStore(session_key=session_key)
    return request


def test_cart_item_count_for_a_visitor_without_a_session_runs_no_query_and_creates_no_session(db):
    request = _request()

    with CaptureQueriesContext(connection) as queries:
        count = cart_item_count(request=request)

    assert count == 0 and len(queries) == 0
    assert request.session.session_key is None


def test_cart_item_count_sums_units_in_one_query(shopper, make_variant, cart_with):
    cart_with(shopper, {make_variant(): 2, make_variant(): 3})
    guest_cart = cart_with(None, {make_variant(): 4}, session_key="guest-count")

    with CaptureQueriesContext(connection) as queries:
        counts = (cart_item_count(request=_request(user=shopper)), cart_item_count(request=_request(session_key="guest-count")))

    assert counts == (5, 4) and len(queries) == 2
    assert guest_cart.items.count() == 1


def test_owner_from_request_creates_a_session_only_when_asked(db):
    request = _request()

    reading = owner_from_request(request)
    writing = owner_from_request(request, create_session=True)

    assert reading.is_anonymous_without_session
    assert writing.session_key and writing.key == f"session:{writing.session_key}"


def test_order_get_for_owner_finds_own_orders_by_number_in_any_case(shopper, place_order):
    order = place_order(shopper)

    found = order_get_for_owner(number=f" {order.number.lower()} ", owner=Owner(user=shopper))

    assert found.pk == order.pk


def test_order_get_for_owner_answers_not_found_for_someone_elses_order(shopper, other_shopper, place_order):
    theirs = place_order(other_shopper)

    with pytest.raises(NotFoundError) as error:
        order_get_for_owner(number=theirs.number, owner=Owner(user=shopper))
    with pytest.raises(NotFoundError):
        order_get_for_owner(number=theirs.number, owner=Owner(session_key="some-guest"))
    with pytest.raises(NotFoundError):
        order_get_for_owner(number=theirs.number, owner=Owner())

    assert (error.value.code, error.value.status_code) == ("order_not_found", 404)


def test_order_list_for_user_counts_items_newest_first(shopper, make_variant, place_order):
    older = place_order(shopper, {make_variant(): 2, make_variant(): 1})
    newer = place_order(shopper)

    orders = list(order_list_for_user(user=shopper))

    assert [(order.pk, order.item_count) for order in orders] == [(newer.pk, 2), (older.pk, 3)]
