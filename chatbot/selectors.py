"""Chat reads: who is asking, their conversations, and the orders the assistant may discuss with them.

Every order the assistant touches comes through `order_for_shopper`, which only returns the requester's own
orders (their account's, their guest session's, or one a guest verified with the e-mail on it). An order
number typed into the chat is a question, never a credential.
"""
import re
from dataclasses import dataclass, field
from datetime import timedelta
from uuid import UUID

from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from chatbot.models import Conversation, FAQEntry, Message, SupportTicket
from shop import selectors as shop_selectors
from shop.errors import NotFoundError
from shop.models import Order  # the type only: every order read goes through shop.selectors
from shop.selectors import Owner


@dataclass(frozen=True)
class Shopper:
    """The requester as the request (never the message) identifies them, plus the orders a guest has
    verified in this conversation with their e-mail: {order number: e-mail}."""

    owner: Owner
    verified: dict[str, str] = field(default_factory=dict)

    @property
    def is_signed_in(self) -> bool:
        return self.owner.user is not None


def shopper_for(*, request: HttpRequest, conversation: Conversation) -> Shopper:
    """The shopper behind `request` in `conversation` (whose ownership the API has already checked)."""
    owner = shop_selectors.owner_from_request(request)
    return Shopper(owner=owner, verified=dict(conversation.state.get("verified", {})))


def conversation_get_for_requester(*, conversation_id: str | UUID, request: HttpRequest) -> Conversation:
    """The conversation if it belongs to the requester (their account, or their guest session); otherwise
    NotFoundError, so conversation ids cannot be probed either."""
    try:
        pk = UUID(str(conversation_id))
    except ValueError:
        raise NotFoundError("conversation_not_found", "No such conversation.") from None
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        conversations = Conversation.objects.filter(user=user)
    elif request.session.session_key:
        conversations = Conversation.objects.filter(user__isnull=True, session_key=request.session.session_key)
    else:
        conversations = Conversation.objects.none()
    conversation = conversations.filter(pk=pk).first()
    if conversation is None:
        raise NotFoundError("conversation_not_found", "No such conversation.")
    return conversation


def conversation_messages(*, conversation: Conversation, after_id: int | None = None) -> QuerySet[Message]:
    """The conversation's messages in order (those after `after_id` when given, for polling)."""
    messages = conversation.messages.all()
    return messages.filter(id__gt=after_id) if after_id else messages


def ticket_status(*, conversation: Conversation) -> str | None:
    """The status of the conversation's hand-off ticket, or None when it was never handed off."""
    return SupportTicket.objects.filter(conversation=conversation).values_list("status", flat=True).first()


def order_for_shopper(*, number: str, shopper: Shopper) -> Order:
    """One of the shopper's orders, by number. NotFoundError (the same for a missing order and another
    shopper's) unless it is theirs or a guest verified it in this conversation with the order's e-mail."""
    normalized = number.strip().upper()
    try:
        return shop_selectors.order_get_for_owner(number=normalized, owner=shopper.owner)
    except NotFoundError:
        email = shopper.verified.get(normalized)
        if shopper.is_signed_in or not email:
            raise
        return order_verify_for_guest(number=normalized, email=email)


def order_verify_for_guest(*, number: str, email: str) -> Order:
    """The order with this number and this e-mail on it, for a guest proving it is theirs; NotFoundError
    otherwise (one message whichever half was wrong; shop.selectors keeps the two misses alike)."""
    order = shop_selectors.order_get_for_guest(number=number, email=email)
    if order is None:
        raise NotFoundError("order_not_found", f"No order {number.strip().upper()} was found for that e-mail address.")
    return order


def recent_orders(*, shopper: Shopper, limit: int = 5) -> list[Order]:
    """The shopper's newest orders with their lines (for "which one?" and for resolving "the shoes from
    last week"); verified guest orders are included."""
    orders = list(shop_selectors.order_list_for_owner(owner=shopper.owner).prefetch_related("lines")[:limit])
    known = {o.number for o in orders}
    for number in shopper.verified:
        if number not in known:
            try:
                orders.append(order_for_shopper(number=number, shopper=shopper))
            except NotFoundError:
                continue
    return orders


_TIME_WORDS = {
    "today": (0, 1), "yesterday": (1, 2), "last week": (4, 14), "this week": (0, 7), "last month": (20, 45),
    "this month": (0, 31), "few days ago": (2, 6),
}
_RECENT_WORDS = re.compile(r"\b(latest|last|recent|newest|most recent)\b")
_WORD = re.compile(r"[a-z]{3,}")


def order_matching_description(*, text: str, orders: list[Order]) -> Order | None:
    """The order a description points at ("the shoes from last week", "my latest order"), if exactly one
    fits best: words of its items' titles, and when it was placed."""
    lowered = text.lower()
    now = timezone.now()
    words = {w.rstrip("s") for w in _WORD.findall(lowered)}
    scores: list[tuple[float, Order]] = []
    for order in orders:
        title_words = {w.rstrip("s") for line in order.lines.all() for w in _WORD.findall(line.product_title.lower())}
        score = float(len(words & title_words))
        for phrase, (low, high) in _TIME_WORDS.items():
            if phrase in lowered and timedelta(days=low) <= now - order.created_at < timedelta(days=high):
                score += 1.0
        scores.append((score, order))
    if not scores:
        return None
    if not any(score for score, _ in scores) and _RECENT_WORDS.search(lowered):
        return orders[0]  # newest first
    scores.sort(key=lambda pair: -pair[0])
    best = scores[0]
    if best[0] == 0 or (len(scores) > 1 and scores[1][0] == best[0]):
        return None
    return best[1]


def faq_entry_by_slug(*, slug: str) -> FAQEntry | None:
    return FAQEntry.objects.filter(slug=slug, active=True).first()


def faq_entries() -> QuerySet[FAQEntry]:
    return FAQEntry.objects.filter(active=True)
