"""The assistant's tools: each one a service or selector call on the shop's own data, behind a small base
class, and chosen in settings (CHATBOT_TOOLS), like payment providers.

Rules every tool keeps:
- Who is acting comes from `ToolContext.shopper`, built from the request. An order is only ever fetched
  through `selectors.order_for_shopper`; a number from the message that is not the shopper's gets a
  refusal that reveals nothing about the order.
- A tool that changes anything (`confirm = True`) runs in two turns: `preview` says what would happen and
  asks, and `run` only happens after the shopper says yes in the next message.
- Results carry facts, not markup; replies.py words them and the widget inserts them as text.
"""
import re
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.urls import reverse
from django.utils.module_loading import import_string

from catalog import selectors as catalog_selectors
from chatbot import knowledge
from chatbot.selectors import Shopper, order_for_shopper
from shop import services as shop_services
from shop.errors import ApplicationError, NotFoundError
from shop.models import Order, OrderStatus

DEFAULT_TOOLS = [
    "chatbot.tools.OrderStatusTool",
    "chatbot.tools.CancelOrderTool",
    "chatbot.tools.StartReturnTool",
    "chatbot.tools.ChangeAddressTool",
    "chatbot.tools.RefundStatusTool",
    "chatbot.tools.InvoiceLinkTool",
    "chatbot.tools.FAQSearchTool",
    "chatbot.tools.ProductSearchTool",
]


@dataclass
class ToolContext:
    shopper: Shopper
    text: str  # the shopper's message, for tools that search with it; never an identity
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class ToolResult:
    """What a tool found or did. `status` is one of: ok, confirm (a preview awaiting yes/no), refused
    (not the shopper's, or not allowed in the order's state), missing (an argument is needed), empty."""

    status: str
    text: str  # the template reply: complete, correct, and used whenever generation is off or unsafe
    facts: dict[str, Any] = field(default_factory=dict)
    citations: list[dict] = field(default_factory=list)
    quick_replies: list[str] = field(default_factory=list)
    confident: bool = True  # False: retrieval was weak; the reply says so and offers a person


class Tool:
    """Base class. `intents` route understood messages here; `needs_order` makes the dialogue resolve an
    order number (the shopper's own) into args["order"] first."""

    name: str = ""
    intents: tuple[str, ...] = ()
    needs_order: bool = False
    confirm: bool = False

    def preview(self, context: ToolContext) -> ToolResult:
        """For confirm tools: what `run` would do, as a question. Must not change anything."""
        raise NotImplementedError

    def run(self, context: ToolContext) -> ToolResult:
        raise NotImplementedError


def refusal(number: str) -> ToolResult:
    """The one answer for an order number that is not the requester's: nothing about it is revealed."""
    return ToolResult(
        "refused",
        f"I can't find an order {number} that belongs to you, so I can't share anything about it. "
        "I can only help with orders placed from your own account, or, as a guest, an order you confirm "
        "with the e-mail address used on it.",
        quick_replies=["Show my orders", "Talk to a person"],
    )


def shopper_order(context: ToolContext) -> Order:
    """The order in args, re-read through the ownership check on every use (never cached across turns)."""
    return order_for_shopper(number=context.args["order"], shopper=context.shopper)


def _items(order: Order) -> str:
    titles = [f"{line.product_title} x{line.quantity}" for line in order.lines.all()]
    return ", ".join(titles[:4]) + (f" and {len(titles) - 4} more" if len(titles) > 4 else "")


def order_facts(order: Order) -> dict[str, Any]:
    return {
        "order": order.number, "status": order.get_status_display(), "items": _items(order),
        "placed": order.created_at.strftime("%d %b %Y"), "total": f"{order.currency} {order.total}",
        "tracking_number": order.tracking_number, "link": order.get_absolute_url(),
    }


def _actor(context: ToolContext) -> dict[str, Any]:
    return {"actor": context.shopper.owner.user, "actor_label": "assistant"}


class OrderStatusTool(Tool):
    name = "order_status"
    intents = ("track_order",)
    needs_order = True

    def run(self, context: ToolContext) -> ToolResult:
        order = shopper_order(context)
        facts = order_facts(order)
        text = f"Order {order.number} ({facts['items']}) is {facts['status'].lower()}."
        if order.status == OrderStatus.SHIPPED and order.tracking_number:
            text += f" It is on its way with tracking number {order.tracking_number}."
        elif order.status in (OrderStatus.PAID, OrderStatus.PENDING_PAYMENT):
            text += " It has not shipped yet; you can still change the address or cancel it."
        elif order.status == OrderStatus.DELIVERED:
            text += " If something is not right, I can start a return."
        return ToolResult("ok", text, facts, quick_replies=_status_quick_replies(order))


def _status_quick_replies(order: Order) -> list[str]:
    if shop_services.order_can_transition(order=order, to_status=OrderStatus.CANCELLED):
        return ["Cancel this order", "Change the delivery address"]
    if shop_services.order_can_transition(order=order, to_status=OrderStatus.RETURN_REQUESTED):
        return ["Start a return", "Get the invoice"]
    return ["Get the invoice", "Talk to a person"]


class CancelOrderTool(Tool):
    name = "cancel_order"
    intents = ("cancel_order",)
    needs_order = True
    confirm = True

    def preview(self, context: ToolContext) -> ToolResult:
        order = shopper_order(context)
        facts = order_facts(order)
        if not shop_services.order_can_transition(order=order, to_status=OrderStatus.CANCELLED):
            hint = {OrderStatus.SHIPPED: " I can start a return once it is delivered.",
                    OrderStatus.DELIVERED: " I can start a return instead."}.get(order.status, "")
            return ToolResult("refused", f"Order {order.number} is {facts['status'].lower()}, so it can no longer be cancelled.{hint}", facts)
        return ToolResult(
            "confirm",
            f"Do you want me to cancel order {order.number} ({facts['items']}, {facts['total']})? "
            "Any payment is refunded in full. Reply yes to cancel or no to keep it.",
            facts, quick_replies=["Yes, cancel it", "No, keep it"],
        )

    def run(self, context: ToolContext) -> ToolResult:
        order = shop_services.order_cancel(order=shopper_order(context), reason="cancelled in the support chat", **_actor(context))
        return ToolResult("ok", f"Done: order {order.number} is cancelled. Any payment will be refunded to the original method within 5-7 working days.", order_facts(order))


class StartReturnTool(Tool):
    name = "start_return"
    intents = ("get_refund",)
    needs_order = True
    confirm = True

    def preview(self, context: ToolContext) -> ToolResult:
        order = shopper_order(context)
        facts = order_facts(order)
        if order.status == OrderStatus.RETURN_REQUESTED:
            return ToolResult("refused", f"A return for order {order.number} is already under way; the refund follows once the parcel is back with us.", facts)
        if not shop_services.order_can_transition(order=order, to_status=OrderStatus.RETURN_REQUESTED):
            hint = " It has not shipped, so I can cancel it instead for a full refund." if shop_services.order_can_transition(
                order=order, to_status=OrderStatus.CANCELLED) else ""
            return ToolResult("refused", f"Order {order.number} is {facts['status'].lower()}, so a return can't be started.{hint}", facts)
        return ToolResult(
            "confirm",
            f"Shall I start a return for order {order.number} ({facts['items']})? A courier picks it up for free "
            "and the refund follows once it is back with us. Reply yes to start it or no to stop.",
            facts, quick_replies=["Yes, start the return", "No"],
        )

    def run(self, context: ToolContext) -> ToolResult:
        order = shop_services.order_request_return(order=shopper_order(context), reason="requested in the support chat", **_actor(context))
        return ToolResult("ok", f"Your return for order {order.number} is requested. We'll arrange a free pickup within 2 working days; the refund follows once the item is back.", order_facts(order))


_POSTCODE = re.compile(r"\b(\d{6})\b")


def parse_address(text: str, default_name: str) -> shop_services.ShippingAddress | None:
    """"Asha Rao, 12 MG Road, Bengaluru 560001" -> an address; None unless there is a street, a city and
    a six-digit PIN code. Without a name part, the order's current name is kept."""
    text = re.sub(r"^\s*(?:the\s+)?(?:new\s+)?(?:address|deliver(?:y)?(?: address)?)\s*(?:is|:)?\s*", "", text.strip(), flags=re.I)
    parts = [p.strip() for p in re.split(r"[,\n;]+", text) if p.strip()]
    postcode = next((m.group(1) for p in parts for m in [_POSTCODE.search(p)] if m), None)
    if postcode is None or len(parts) < 2:
        return None
    # The part holding the PIN code is (or ends with) the city: "Bengaluru 560001".
    index = next(i for i, p in enumerate(parts) if postcode in p)
    city = _POSTCODE.sub("", parts[index]).strip(" -") or (parts[index - 1] if index else "")
    street = parts[: index if _POSTCODE.sub("", parts[index]).strip(" -") else index - 1]
    if not city or not street:
        return None
    name, *lines = street if len(street) >= 2 else [default_name, *street]
    return shop_services.ShippingAddress(
        name=name[:120], line1=lines[0][:200], line2=", ".join(lines[1:])[:200], city=city[:100], postcode=postcode
    )


class ChangeAddressTool(Tool):
    name = "change_address"
    intents = ("change_shipping_address",)
    needs_order = True
    confirm = True

    def preview(self, context: ToolContext) -> ToolResult:
        order = shopper_order(context)
        facts = order_facts(order)
        if order.status not in shop_services.ADDRESS_CHANGEABLE_STATUSES:
            return ToolResult("refused", f"Order {order.number} is {facts['status'].lower()}, so its delivery address can no longer be changed.", facts)
        address = parse_address(context.args.get("address_text", ""), order.shipping_name)
        if address is None:
            return ToolResult(
                "missing",
                f"What is the new delivery address for order {order.number}? Please write it as: name, street, "
                "city and 6-digit PIN code, e.g. \"Asha Rao, 12 MG Road, Bengaluru 560001\".",
                facts,
            )
        context.args["address"] = address.__dict__
        lines = ", ".join(p for p in (address.name, address.line1, address.line2, f"{address.city} {address.postcode}") if p)
        return ToolResult(
            "confirm", f"Change the delivery address of order {order.number} to: {lines}? Reply yes to change it or no to keep the current one.",
            {**facts, "new_address": lines}, quick_replies=["Yes, change it", "No"],
        )

    def run(self, context: ToolContext) -> ToolResult:
        order = shopper_order(context)  # ownership first, whatever else the arguments hold
        address = shop_services.ShippingAddress(**context.args["address"])
        order = shop_services.order_change_shipping_address(order=order, address=address, **_actor(context))
        return ToolResult("ok", f"Done: order {order.number} will now go to {address.line1}, {address.city} {address.postcode}.", order_facts(order))


class RefundStatusTool(Tool):
    name = "refund_status"
    intents = ("track_refund",)
    needs_order = True

    def run(self, context: ToolContext) -> ToolResult:
        order = shopper_order(context)
        facts = order_facts(order)
        by_status = {
            OrderStatus.REFUNDED: f"The refund for order {order.number} ({facts['total']}) has been issued to your original payment method; banks take 5-7 working days to show it.",
            OrderStatus.RETURN_REQUESTED: f"Your return for order {order.number} is under way. The refund of {facts['total']} is issued once the item is back with us.",
            OrderStatus.CANCELLED: f"Order {order.number} was cancelled" + (
                f", and {facts['total']} was refunded to your original payment method." if order.payment_reference else "; no payment had been taken, so nothing is owed."),
        }
        text = by_status.get(order.status, f"Order {order.number} is {facts['status'].lower()}: there is no refund on it. I can start a return once it is delivered.")
        return ToolResult("ok", text, facts)


class InvoiceLinkTool(Tool):
    name = "invoice_link"
    intents = ("get_invoice", "check_invoice")
    needs_order = True

    def run(self, context: ToolContext) -> ToolResult:
        order = shopper_order(context)
        facts = order_facts(order)
        link = reverse("shop:order-invoice", kwargs={"number": order.number})
        if order.user_id is None:
            # The invoice page belongs to the account that placed the order: a guest order has none.
            return ToolResult(
                "ok", f"Order {order.number} was placed without an account, so its invoice is not on the website. "
                "A person from our support team can send it to the e-mail address on the order.",
                facts, quick_replies=["Talk to a person"],
            )
        facts["invoice_link"] = link
        sign_in = "" if context.shopper.is_signed_in else " after signing in to the account that placed the order"
        return ToolResult(
            "ok", f"The invoice for order {order.number} ({facts['total']}) is at {link}{sign_in}; print it or save it as PDF from there.",
            facts, citations=[{"title": f"Invoice for order {order.number}", "url": link}],
        )


class FAQSearchTool(Tool):
    name = "faq_search"
    intents = (
        "check_cancellation_fee", "check_payment_methods", "check_refund_policy", "contact_customer_service",
        "create_account", "delete_account", "delivery_options", "edit_account", "newsletter_subscription",
        "payment_issue", "place_order", "recover_password", "registration_problems", "review", "switch_account",
        "complaint", "change_order", "delivery_period", "set_up_shipping_address",
    )

    def run(self, context: ToolContext) -> ToolResult:
        # The message's embedding was computed (and cached) when the intent model read it: this is a lookup.
        hits = knowledge.search(context.text, limit=3)
        if not knowledge.is_confident(hits):
            return ToolResult(
                "empty",
                "I'm not sure I have a reliable answer to that, and I'd rather not guess. "
                "Would you like me to pass your question to a person from our support team?",
                citations=[h.citation() for h in hits[:1]] if hits else [],
                quick_replies=["Talk to a person"], confident=False,
            )
        best = hits[0]
        return ToolResult(
            "ok", best.answer, {"question": best.question, "answer": best.answer},
            citations=[best.citation()], quick_replies=[h.question for h in hits[1:3]],
        )


class ProductSearchTool(Tool):
    name = "product_search"
    intents = ("product_search",)

    def run(self, context: ToolContext) -> ToolResult:
        products = catalog_selectors.product_search(query=context.text, limit=3)
        if not products:
            return ToolResult("empty", "I couldn't find products matching that. Try other words, or browse the categories at the top of the page.",
                              quick_replies=["Talk to a person"])
        detail = catalog_selectors.product_detail(slug=products[0].slug)
        facts: dict[str, Any] = {"products": [f"{p.title} ({p.brand}), {p.currency} {p.price}" for p in products]}
        text = "Here is what I found: " + "; ".join(facts["products"]) + "."
        if detail is not None:
            # Product questions are answered from the catalog's facts about the best match only.
            rows = [f"{label}: {value}" for label, value in detail.attribute_rows[:5]]
            if detail.sizes:
                rows.append("sizes: " + ", ".join(detail.sizes))
            rows.append({"in": "in stock", "low": "only a few left", "out": "out of stock"}[detail.stock_state])
            facts["details"] = rows
            text += f" {detail.product.title}: " + "; ".join(rows) + "."
        citations = [{"title": p.title, "url": p.get_absolute_url()} for p in products]
        return ToolResult("ok", text, facts, citations=citations)


def load_tools() -> dict[str, Tool]:
    """The configured tools by name (settings.CHATBOT_TOOLS, else all of the above)."""
    tools = [import_string(path)() for path in getattr(settings, "CHATBOT_TOOLS", DEFAULT_TOOLS)]
    return {tool.name: tool for tool in tools}


def tool_for_intent(tools: dict[str, Tool], intent: str) -> Tool | None:
    return next((tool for tool in tools.values() if intent in tool.intents), None)


def run_tool(tool: Tool, context: ToolContext, *, confirmed: bool = False) -> ToolResult:
    """Run (or, for a confirm tool not yet confirmed, preview) a tool, turning the shop's refusals into
    answers: another shopper's order and rule violations are replies, not errors."""
    try:
        if tool.confirm and not confirmed:
            return tool.preview(context)
        return tool.run(context)
    except NotFoundError:
        return refusal(context.args.get("order", ""))
    except ApplicationError as error:
        return ToolResult("refused", error.message)
