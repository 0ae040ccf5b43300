"""Chat writes: conversations, messages and their dialogue state, feedback, hand-off tickets, staff replies
and the demo knowledge base. Each function owns its transaction."""
import json
from dataclasses import dataclass
from pathlib import Path

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.http import HttpRequest

from chatbot.dialogue import Dialogue, Turn
from chatbot.models import (
    Conversation,
    ConversationStatus,
    FAQEntry,
    Message,
    MessageRole,
    StaffReply,
    SupportTicket,
    TicketStatus,
)
from chatbot.replies import GREETING, HANDOFF, STARTERS
from chatbot.selectors import Shopper
from shop.errors import ApplicationError

DEMO_FAQ_FILE = Path(__file__).resolve().parent / "data" / "faq.json"


def conversation_start(*, request: HttpRequest) -> Conversation:
    """A new conversation owned by the signed-in user, or by the guest's session (created if needed)."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return Conversation.objects.create(user=user)
    if not request.session.session_key:
        request.session.create()
    return Conversation.objects.create(session_key=request.session.session_key)


def assistant_greeting_add(*, conversation: Conversation) -> Message:
    """The assistant's opening line with the starter quick replies."""
    return Message.objects.create(
        conversation=conversation, role=MessageRole.ASSISTANT, text=GREETING, intent="greeting", quick_replies=STARTERS
    )


@dataclass
class Exchange:
    """A stored shopper message and the dialogue's decision about it; `turn` is None while a person has
    the conversation (the assistant stays quiet then)."""

    user_message: Message
    turn: Turn | None


def message_post(*, conversation: Conversation, shopper: Shopper, text: str) -> Exchange:
    """Store the shopper's message and run the dialogue on it (tools act through the shop's own services,
    each in its own transaction). The new dialogue state is saved with the message; a hand-off opens a
    ticket with the transcript. The reply is stored separately (`assistant_message_add`) so it can be
    streamed first."""
    user_message = Message.objects.create(conversation=conversation, role=MessageRole.USER, text=text)
    if conversation.status == ConversationStatus.HANDED_OFF:
        ticket_transcript_append(conversation=conversation, message=user_message)
        return Exchange(user_message, None)
    dialogue = Dialogue(shopper, conversation.state)
    turn = dialogue.respond(text)
    with transaction.atomic():
        Message.objects.filter(pk=user_message.pk).update(intent=turn.intent, confidence=turn.confidence, slots=turn.slots)
        conversation.state = dialogue.state
        conversation.save(update_fields=["state", "updated_at"])
    user_message.refresh_from_db()
    if turn.handoff:
        conversation_hand_off(conversation=conversation, reason=text)
    return Exchange(user_message, turn)


def assistant_message_add(*, conversation: Conversation, turn: Turn, text: str) -> Message:
    """Store the assistant's reply (the template or a grounded generation) with its citations."""
    return Message.objects.create(
        conversation=conversation, role=MessageRole.ASSISTANT, text=text, intent=turn.intent, tool=turn.tool,
        citations=turn.citations, quick_replies=turn.quick_replies,
    )


def message_feedback_set(*, message: Message, value: int | None) -> Message:
    """Thumbs up (1), down (-1) or cleared (None) on one of the assistant's answers."""
    if message.role != MessageRole.ASSISTANT:
        raise ApplicationError("not_an_answer", "Only the assistant's answers take feedback.")
    message.feedback = value
    message.save(update_fields=["feedback"])
    return message


def _transcript_line(message: Message) -> str:
    return f"[{message.created_at:%Y-%m-%d %H:%M}] {message.get_role_display()}: {message.text}"


def conversation_hand_off(*, conversation: Conversation, reason: str = "") -> SupportTicket:
    """Hand the conversation to a person: a ticket (one per conversation; asking twice reopens it) with the
    transcript so far. The assistant stays quiet from here on; staff replies appear in the widget."""
    with transaction.atomic():
        locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
        transcript = "\n".join(_transcript_line(m) for m in locked.messages.all())
        ticket, created = SupportTicket.objects.get_or_create(
            conversation=locked, defaults={"transcript": transcript, "reason": reason[:255]}
        )
        if not created:
            ticket.transcript, ticket.status = transcript, TicketStatus.OPEN
            ticket.save(update_fields=["transcript", "status", "updated_at"])
        locked.status = ConversationStatus.HANDED_OFF
        locked.save(update_fields=["status", "updated_at"])
    conversation.status = ConversationStatus.HANDED_OFF
    return ticket


def conversation_request_person(*, conversation: Conversation) -> tuple[SupportTicket, Message | None]:
    """The widget's "Talk to a person" button: hand off and say so (once; a second press changes nothing)."""
    already = conversation.status == ConversationStatus.HANDED_OFF
    ticket = conversation_hand_off(conversation=conversation, reason="Talk to a person (button)")
    if already:
        return ticket, None
    return ticket, Message.objects.create(conversation=conversation, role=MessageRole.ASSISTANT, text=HANDOFF, tool="handoff")


def ticket_transcript_append(*, conversation: Conversation, message: Message) -> None:
    """Add a message written after the hand-off to the ticket, and put the ticket back in the open queue."""
    with transaction.atomic():
        ticket = SupportTicket.objects.select_for_update().filter(conversation=conversation).first()
        if ticket is None:
            return
        ticket.transcript = f"{ticket.transcript}\n{_transcript_line(message)}".strip()
        ticket.status = TicketStatus.OPEN
        ticket.save(update_fields=["transcript", "status", "updated_at"])


def ticket_staff_reply_add(*, ticket: SupportTicket, author: AbstractBaseUser | None, text: str) -> StaffReply:
    """A staff member answers a ticket: the reply is posted into the conversation (the widget shows it)."""
    text = text.strip()
    if not text:
        raise ApplicationError("empty_reply", "A reply needs some text.")
    with transaction.atomic():
        message = Message.objects.create(conversation=ticket.conversation, role=MessageRole.STAFF, text=text)
        reply = StaffReply.objects.create(ticket=ticket, author=author, text=text, message=message)
        if ticket.status == TicketStatus.OPEN:  # a ticket staff closed with this reply stays closed
            ticket.status = TicketStatus.ANSWERED
        ticket.save(update_fields=["status", "updated_at"])
        Conversation.objects.filter(pk=ticket.conversation_id).update(updated_at=message.created_at)
    return reply


def faq_entries_seed(*, path: Path = DEMO_FAQ_FILE) -> int:
    """Load the demo FAQ entries written for Aisle; entries already there (same question) are left as
    staff edited them. Returns how many were created."""
    created = 0
    with transaction.atomic():
        for item in json.loads(path.read_text(encoding="utf-8")):
            _, was_created = FAQEntry.objects.get_or_create(
                question=item["question"], defaults={"answer": item["answer"], "tags": item.get("tags", "")}
            )
            created += was_created
    return created
