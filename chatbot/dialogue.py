"""The dialogue state machine: understand -> act -> reply, one shopper message at a time.

State kept in Conversation.state between turns (server-side only; the client never sends it):
- slots:    carried slot values ("where is my order?" -> "which one?" -> "the shoes from last week"); an
            order number is only carried once it proved to be the shopper's
- awaiting: what the last reply asked for: {"what": "order"|"email"|"address", "intent": ..., "order": ...}
- pending:  a previewed change awaiting yes/no: {"tool": ..., "args": {...}}
- verified: {order number: e-mail} a guest proved in this conversation

`respond` decides and acts; replies.py words the outcome; services.py stores both in one transaction.
"""
import re
from dataclasses import dataclass, field
from typing import Any

from chatbot import replies
from chatbot.intent_data import OUT_OF_SCOPE
from chatbot.intents import Understanding, extract_slots, understand
from chatbot.selectors import (
    Shopper,
    order_for_shopper,
    order_matching_description,
    order_verify_for_guest,
    recent_orders,
)
from chatbot.tools import Tool, ToolContext, ToolResult, load_tools, parse_address, run_tool, tool_for_intent
from shop.errors import NotFoundError

_YES = re.compile(r"^\s*(y|yes|yep|yeah|yup|sure|ok|okay|confirm(ed)?|please do|do it|go ahead|correct)\b", re.I)
_NO = re.compile(r"^\s*(n|no|nope|nah|don'?t|do not|keep it|stop|never ?mind|not now)\b", re.I)
# An intent this sure, in a message that is not an address, overrides the question "what is the new
# address?" ("actually, how do I reset my password?").
SWITCH_CONFIDENCE = 0.8
HANDOFF_INTENTS = ("contact_human_agent",)
# Bitext has no "start a return" intent: its refund and order-change intents absorb return requests. A
# return phrasing under one of them is routed to the return tool (which still asks before acting).
_RETURN = re.compile(r"\b(return(ing)?|send (it |this |them )?back)\b(?! (policy|window|period))", re.I)
_RETURNISH_INTENTS = ("get_refund", "track_refund", "check_refund_policy", "change_order", "complaint", "cancel_order")
_CANCEL = re.compile(r"\bcancel", re.I)


@dataclass
class Turn:
    """The outcome of one shopper message."""

    text: str
    intent: str = ""
    confidence: float | None = None
    slots: dict[str, str] = field(default_factory=dict)
    tool: str = ""
    citations: list[dict] = field(default_factory=list)
    quick_replies: list[str] = field(default_factory=list)
    handoff: bool = False
    # Whether generation may re-word this reply (grounded facts or an FAQ answer to work from).
    wordable: bool = False


class Dialogue:
    def __init__(self, shopper: Shopper, state: dict[str, Any], tools: dict[str, Tool] | None = None):
        self.shopper = shopper
        self.state: dict[str, Any] = {"slots": {}, **state}
        # One dict: what a guest verifies this turn is what order_for_shopper checks against.
        self.shopper.verified.update(self.state.get("verified", {}))
        self.state["verified"] = self.shopper.verified
        self.tools = tools or load_tools()

    # ---------------------------------------------------------------------------------------- entry point
    def respond(self, text: str) -> Turn:
        pending = self.state.pop("pending", None)
        if pending:
            if _YES.match(text):
                return self._act(self.tools[pending["tool"]], pending["args"], text, confirmed=True)
            if _NO.match(text):
                return Turn(replies.NOTHING_CHANGED, quick_replies=replies.STARTERS)
        understanding = understand(text)
        awaiting = self.state.pop("awaiting", None)
        if awaiting:
            turn = self._continue(awaiting, text, understanding)
            if turn is not None:
                return turn
        return self._handle(understanding, text)

    # ---------------------------------------------------------------------------------------- follow-ups
    def _continue(self, awaiting: dict, text: str, understanding: Understanding) -> Turn | None:
        """The turn when the message answers what the last reply asked for; None when it does not (it is
        then handled as a new request)."""
        what, intent = awaiting["what"], awaiting["intent"]
        slots = {**extract_slots(text), **understanding.slots}
        if what == "email":
            email = slots.get("email")
            if not email:
                return None
            try:
                order = order_verify_for_guest(number=awaiting["order"], email=email)
            except NotFoundError:
                return Turn(replies.GUEST_NOT_VERIFIED, intent=intent, quick_replies=["Talk to a person"])
            self.state["verified"][order.number] = email
            return self._with_order(intent, order.number, text, understanding)
        if what == "address":
            starts_something_else = (
                understanding.intent not in (intent, OUT_OF_SCOPE, "greeting")
                and understanding.confidence >= SWITCH_CONFIDENCE
                and parse_address(text, "") is None
            )
            if starts_something_else:
                return None
            return self._act(self.tools["change_address"], {"order": awaiting["order"], "address_text": text}, text, intent=intent)
        # what == "order": an explicit number, or a description of one of the shopper's orders
        number = slots.get("order_id")
        if number is None:
            match = order_matching_description(text=text, orders=recent_orders(shopper=self.shopper))
            number = match.number if match else None
        if number is None:
            return None
        return self._with_order(intent, number, text, understanding)

    # ---------------------------------------------------------------------------------------- new requests
    def _handle(self, understanding: Understanding, text: str) -> Turn:
        intent = understanding.intent
        if _RETURN.search(text) and not _CANCEL.search(text) and (
                intent in _RETURNISH_INTENTS or understanding.slots.get("order_id")):
            intent = "get_refund"
        base = {"intent": intent, "confidence": round(understanding.confidence, 4), "slots": understanding.slots}
        if intent in HANDOFF_INTENTS:
            return Turn(replies.HANDOFF, handoff=True, **base)
        if intent == "greeting":
            return Turn(replies.GREETING, quick_replies=replies.STARTERS, **base)
        tool = tool_for_intent(self.tools, intent) if intent != OUT_OF_SCOPE else None
        if tool is None:
            # Not a shop request we act on: the knowledge base may still answer it; otherwise say so.
            result = run_tool(self.tools["faq_search"], ToolContext(self.shopper, text))
            if result.confident:
                return self._turn(result, "faq_search", **base)
            return Turn(replies.OUT_OF_SCOPE, quick_replies=[*replies.STARTERS[:3], "Talk to a person"], **base)
        if tool.needs_order:
            return self._with_order(intent, understanding.slots.get("order_id"), text, understanding)
        return self._act(tool, {}, text, intent=intent, understanding=understanding)

    def _with_order(self, intent: str, number: str | None, text: str, understanding: Understanding) -> Turn:
        """Run an order tool once an order is known to be the shopper's; otherwise ask for what is missing."""
        tool = tool_for_intent(self.tools, intent)
        base = {"intent": intent, "confidence": round(understanding.confidence, 4), "slots": understanding.slots}
        if number is None:
            orders = recent_orders(shopper=self.shopper)
            match = order_matching_description(text=text, orders=orders) if orders else None
            carried = self.state["slots"].get("order_id")
            if match is not None:
                number = match.number
            elif carried:
                number = carried
            elif len(orders) == 1:
                number = orders[0].number
            elif orders:
                self.state["awaiting"] = {"what": "order", "intent": intent}
                return Turn(replies.WHICH_ORDER, quick_replies=[f"{o.number}" for o in orders[:4]], **base)
            elif self.shopper.is_signed_in:
                return Turn(replies.NO_ORDERS, quick_replies=replies.STARTERS, **base)
            else:
                self.state["awaiting"] = {"what": "order", "intent": intent}
                return Turn(replies.GUEST_ASK_ORDER, **base)
        number = number.strip().upper()
        try:
            order_for_shopper(number=number, shopper=self.shopper)
        except NotFoundError:
            if self.shopper.is_signed_in:
                return self._turn(run_tool(tool, ToolContext(self.shopper, text, {"order": number})), tool.name, **base)
            # A guest may prove an order is theirs with its e-mail; the question reveals nothing either way.
            self.state["awaiting"] = {"what": "email", "intent": intent, "order": number}
            return Turn(replies.GUEST_ASK_EMAIL.format(number=number), **base)
        self.state["slots"]["order_id"] = number
        args: dict[str, Any] = {"order": number}
        if tool.name == "change_address":
            args["address_text"] = text
        return self._act(tool, args, text, intent=intent, understanding=understanding)

    # ---------------------------------------------------------------------------------------- acting
    def _act(
        self, tool: Tool, args: dict[str, Any], text: str, *, intent: str = "", confirmed: bool = False,
        understanding: Understanding | None = None,
    ) -> Turn:
        context = ToolContext(self.shopper, text, dict(args))
        result = run_tool(tool, context, confirmed=confirmed)
        if result.status == "confirm":
            self.state["pending"] = {"tool": tool.name, "args": context.args}
        elif result.status == "missing" and tool.name == "change_address":
            self.state["awaiting"] = {"what": "address", "intent": intent or "change_shipping_address", "order": args["order"]}
        base = {"intent": intent or (understanding.intent if understanding else ""), "slots": understanding.slots if understanding else {}}
        if understanding is not None:
            base["confidence"] = round(understanding.confidence, 4)
        return self._turn(result, tool.name, **base)

    @staticmethod
    def _turn(result: ToolResult, tool: str, **base: Any) -> Turn:
        return Turn(
            result.text, tool=tool, citations=result.citations,
            quick_replies=result.quick_replies or ([] if result.status == "confirm" else replies.STARTERS[:2]),
            wordable=result.status == "ok" and result.confident, **base,
        )
