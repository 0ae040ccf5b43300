"""Each order tool acts only on the requester's own orders: another shopper's order number gets the one
refusal, reveals nothing about that order, and changes nothing."""
import pytest

from chatbot.selectors import Shopper
from chatbot.tools import ToolContext, load_tools, run_tool
from shop.models import OrderStatus
from shop.selectors import Owner

ORDER_TOOLS = ["order_status", "cancel_order", "start_return", "change_address", "refund_status", "invoice_link"]


@pytest.fixture
def victim_order(other_shopper, make_order):
    return make_order(other_shopper, status=OrderStatus.DELIVERED, title="Emerald silk saree", tracking="TRK99887766")


def assert_reveals_nothing(text: str, order) -> None:
    for secret in ("Emerald", "saree", "TRK99887766", order.email, "Delivered", "delivered", "1499", order.shipping_line1):
        assert secret not in text, secret


@pytest.mark.parametrize("tool_name", ORDER_TOOLS)
@pytest.mark.parametrize("confirmed", [False, True])
def test_signed_in_shopper_gets_a_refusal_for_another_shoppers_order(tool_name, confirmed, shopper, victim_order):
    tool = load_tools()[tool_name]
    context = ToolContext(Shopper(Owner(user=shopper)), "x",
                          {"order": victim_order.number, "address_text": "Asha, 1 New Street, Pune 411001",
                           "address": {"name": "A", "line1": "1 New Street", "line2": "", "city": "Pune", "postcode": "411001"}})

    result = run_tool(tool, context, confirmed=confirmed)

    victim_order.refresh_from_db()
    assert result.status == "refused"
    assert f"can't find an order {victim_order.number} that belongs to you" in result.text
    assert_reveals_nothing(result.text + str(result.facts) + str(result.citations), victim_order)
    assert victim_order.status == OrderStatus.DELIVERED and victim_order.shipping_city == "Bengaluru"


@pytest.mark.parametrize("tool_name", ORDER_TOOLS)
def test_guest_session_gets_a_refusal_for_an_order_it_did_not_place_or_verify(tool_name, victim_order):
    context = ToolContext(Shopper(Owner(session_key="guest-session-1")), "x", {"order": victim_order.number})

    result = run_tool(load_tools()[tool_name], context, confirmed=True)

    assert result.status == "refused"
    assert_reveals_nothing(result.text, victim_order)


def test_a_verified_email_only_opens_the_order_it_was_given_for(make_order, other_shopper, victim_order):
    own = make_order(None, session_key="someone-else", email="guest@example.com", title="Linen shirt")
    shopper = Shopper(Owner(session_key="guest-session-1"), verified={own.number: "guest@example.com"})
    tools = load_tools()

    mine = run_tool(tools["order_status"], ToolContext(shopper, "x", {"order": own.number}))
    theirs = run_tool(tools["order_status"], ToolContext(shopper, "x", {"order": victim_order.number}))

    assert mine.status == "ok" and "Linen shirt" in mine.text
    assert theirs.status == "refused"


def test_own_order_tools_work_for_the_owner(shopper, make_order):
    order = make_order(shopper, status=OrderStatus.SHIPPED, title="Running shoes", tracking="TRK123")
    shopper_ = Shopper(Owner(user=shopper))

    result = run_tool(load_tools()["order_status"], ToolContext(shopper_, "x", {"order": order.number}))

    assert result.status == "ok"
    assert f"Order {order.number} (Running shoes x1) is shipped." in result.text and "TRK123" in result.text


def test_cancel_preview_changes_nothing_and_refuses_shipped_orders(shopper, make_order):
    paid = make_order(shopper, status=OrderStatus.PAID)
    shipped = make_order(shopper, status=OrderStatus.SHIPPED)
    tool, me = load_tools()["cancel_order"], Shopper(Owner(user=shopper))

    preview = run_tool(tool, ToolContext(me, "x", {"order": paid.number}))
    too_late = run_tool(tool, ToolContext(me, "x", {"order": shipped.number}), confirmed=True)

    paid.refresh_from_db()
    shipped.refresh_from_db()
    assert preview.status == "confirm" and paid.status == OrderStatus.PAID
    assert too_late.status == "refused" and shipped.status == OrderStatus.SHIPPED


def test_invoice_link_points_at_the_printable_invoice_page(shopper, make_order):
    order = make_order(shopper, status=OrderStatus.DELIVERED)

    result = run_tool(load_tools()["invoice_link"], ToolContext(Shopper(Owner(user=shopper)), "x", {"order": order.number}))

    url = f"/account/orders/{order.number}/invoice/"
    assert result.status == "ok" and url in result.text
    assert result.citations == [{"title": f"Invoice for order {order.number}", "url": url}]


def test_invoice_for_a_guest_order_is_offered_through_a_person(make_order):
    order = make_order(None, session_key="guest-session-1", email="guest@example.com")
    shopper = Shopper(Owner(session_key="guest-session-1"))

    result = run_tool(load_tools()["invoice_link"], ToolContext(shopper, "x", {"order": order.number}))

    assert result.status == "ok" and "/invoice/" not in result.text and not result.citations
    assert result.quick_replies == ["Talk to a person"]
