"""A guest's order lookup by number and e-mail: both must match, the e-mail case-insensitively, and a miss
says nothing about which half was wrong."""
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from shop import selectors


@pytest.fixture
def order(place_order, shopper):
    return place_order(shopper)


def test_number_and_email_find_the_order(order):
    found = selectors.order_get_for_guest(number=order.number, email=order.email)

    assert found == order
    assert [line.pk for line in found.lines.all()] == [line.pk for line in order.lines.all()]


def test_email_is_case_insensitive_and_both_are_trimmed(order):
    found = selectors.order_get_for_guest(number=f"  {order.number.lower()} ", email=f" {order.email.upper()}  ")

    assert found == order


@pytest.mark.parametrize("number, email", [
    ("wrong number", "right email"),
    ("right number", "wrong email"),
    ("wrong number", "wrong email"),
    ("right number", ""),
    ("", "right email"),
])
def test_a_miss_is_none_whichever_half_was_wrong(order, number, email):
    number = order.number if number == "right number" else ("AI-ZZZZZZZZZZ" if number else "")
    email = order.email if email == "right email" else ("someone@example.com" if email else "")

    assert selectors.order_get_for_guest(number=number, email=email) is None


def test_wrong_number_and_wrong_email_run_the_same_query(order, other_shopper, place_order):
    place_order(other_shopper)  # a second order whose e-mail is real, but not this order's

    def sql(number: str, email: str) -> list[str]:
        with CaptureQueriesContext(connection) as captured:
            assert selectors.order_get_for_guest(number=number, email=email) is None
        return [query["sql"].replace(number, "?").replace(email, "?") for query in captured.captured_queries]

    wrong_number = sql("AI-ZZZZZZZZZZ", order.email)
    wrong_email = sql(order.number, other_shopper.email)

    assert len(wrong_number) == 1 and wrong_number == wrong_email


def test_another_orders_email_does_not_open_it(order, other_shopper, place_order):
    other = place_order(other_shopper)

    assert selectors.order_get_for_guest(number=order.number, email=other.email) is None
    assert selectors.order_get_for_guest(number=other.number, email=order.email) is None
