"""The chat API: ownership of conversations, the streaming endpoint, guards (length, rate limits), feedback,
and the hand-off round trip through the admin."""
import json

import pytest
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from chatbot.models import Message, MessageRole, SupportTicket, TicketStatus
from shop.models import OrderStatus

from .conftest import API


def sse_events(response) -> list[tuple[str, dict]]:
    body = b"".join(response.streaming_content).decode()
    events = []
    for block in body.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.split("\n"))
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def test_new_conversation_greets_with_quick_replies(chat_as, shopper):
    chat = chat_as(shopper)

    messages = chat.history()

    assert [m["role"] for m in messages] == ["assistant"]
    assert "Where is my order?" in messages[0]["quick_replies"]


def test_another_shoppers_conversation_is_not_found(chat_as, shopper, other_shopper):
    chat = chat_as(shopper)
    intruder = APIClient()
    intruder.force_login(other_shopper)

    assert intruder.get(chat.url).status_code == 404
    assert intruder.post(f"{chat.url}messages/", {"text": "hi"}, format="json").status_code == 404
    assert APIClient().get(chat.url).status_code == 404  # a guest without that session
    assert APIClient().get(f"{API}not-a-uuid/").json()["error"]["code"] == "conversation_not_found"


def test_history_polling_returns_only_newer_messages(chat_as, shopper):
    chat = chat_as(shopper)
    chat.say("hello")
    last_id = chat.history()[-1]["id"]
    chat.say("thanks")

    newer = chat.client.get(f"{chat.url}?after={last_id}").json()["messages"]

    assert [m["text"] for m in newer][0] == "thanks" and len(newer) == 2


def test_stream_sends_the_user_message_tokens_and_the_stored_reply(chat_as, shopper, make_order):
    order = make_order(shopper, status=OrderStatus.PAID, title="Denim jacket")
    chat = chat_as(shopper)

    response = chat.client.post(f"{chat.url}stream/", {"text": f"status of {order.number}"}, format="json")

    assert response.status_code == 200 and response["Content-Type"].startswith("text/event-stream")
    events = sse_events(response)
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "user" and kinds[-1] == "done" and kinds.count("token") > 3
    streamed = "".join(payload["text"] for kind, payload in events if kind == "token")
    reply = events[-1][1]["reply"]
    assert streamed == reply["text"] and reply["text"].startswith(f"Order {order.number} (Denim jacket x1) is paid.")
    assert Message.objects.filter(pk=reply["id"], role=MessageRole.ASSISTANT).exists()


def test_stream_with_a_generating_model_keeps_only_grounded_text(chat_as, shopper, faq, settings):
    # A tiny random model: real llm_core generation and streaming, words that are noise.
    settings.CHATBOT_GENERATION = True
    settings.CHATBOT_BASE_MODEL = "tests.chatbot.tiny_model.tiny_base_model"
    settings.CHATBOT_MAX_NEW_TOKENS = 24
    chat = chat_as(shopper)

    events = sse_events(chat.client.post(f"{chat.url}stream/", {"text": "what payment methods do you accept"}, format="json"))

    tokens = [payload["text"] for kind, payload in events if kind == "token"]
    reply = events[-1][1]["reply"]
    assert tokens, "generation streamed nothing"
    from chatbot.replies import is_grounded

    generated = "".join(tokens).strip()
    expected = generated if is_grounded(generated, reply["text"]) else reply["text"]
    assert reply["text"] == expected
    assert reply["citations"][0]["url"].startswith("/help/")


def test_message_length_limit_is_a_400(chat_as, shopper, settings):
    settings.CHATBOT_MAX_MESSAGE_CHARS = 50
    chat = chat_as(shopper)

    too_long = chat.client.post(f"{chat.url}messages/", {"text": "x" * 51}, format="json")
    empty = chat.client.post(f"{chat.url}messages/", {"text": "   "}, format="json")
    streamed = chat.client.post(f"{chat.url}stream/", {"text": "x" * 51}, format="json")

    assert too_long.status_code == 400 and too_long.json()["error"]["code"] == "message_too_long"
    assert empty.status_code == 400 and empty.json()["error"]["fields"]["text"]
    assert streamed.status_code == 400 and streamed["Content-Type"].startswith("application/json")
    assert Message.objects.filter(role=MessageRole.USER).count() == 0


@pytest.mark.parametrize("signed_in", [True, False])
def test_rate_limit_per_user_and_per_session_is_a_429(signed_in, chat_as, shopper, monkeypatch):
    # DRF reads the rates into a class attribute at import; patching it is how a test narrows the budget.
    rates = {**SimpleRateThrottle.THROTTLE_RATES, "chat": "3/min"}
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", rates)
    # A signed-in shopper's conversation start counts against their budget; a guest's first request has no
    # session yet (it creates it), so it counts against the address instead.
    chat = chat_as(shopper if signed_in else None)
    allowed = 2 if signed_in else 3

    codes = [chat.client.post(f"{chat.url}messages/", {"text": "hi"}, format="json").status_code for _ in range(allowed + 1)]
    other = chat_as(None)  # another session has a budget of its own

    assert codes == [201] * allowed + [429]
    assert chat.client.post(f"{chat.url}messages/", {"text": "hi"}, format="json").json()["error"]["code"] == "throttled"
    assert other.say("hi")


def test_feedback_thumbs_on_answers_only(chat_as, shopper):
    chat = chat_as(shopper)
    chat.say("hello")
    answer, question = chat.last["id"], chat.history()[1]["id"]

    up = chat.client.post(f"{chat.url}messages/{answer}/feedback/", {"value": "up"}, format="json")
    cleared = chat.client.post(f"{chat.url}messages/{answer}/feedback/", {"value": "none"}, format="json")
    on_question = chat.client.post(f"{chat.url}messages/{question}/feedback/", {"value": "down"}, format="json")
    bad_value = chat.client.post(f"{chat.url}messages/{answer}/feedback/", {"value": "meh"}, format="json")

    assert up.json()["feedback"] == 1 and cleared.json()["feedback"] is None
    assert on_question.status_code == 404 and bad_value.status_code == 400


def test_hand_off_round_trip_through_the_admin(chat_as, shopper, admin_client):
    chat = chat_as(shopper)
    chat.say("my order arrived damaged")

    handed = chat.client.post(f"{chat.url}handoff/", {}, format="json").json()
    ticket = SupportTicket.objects.get(conversation_id=chat.id)
    assert handed["status"] == "handed_off" and handed["ticket_status"] == "open"
    assert "Shopper: my order arrived damaged" in ticket.transcript

    page = admin_client.get(f"/admin/chatbot/supportticket/{ticket.pk}/change/")
    assert page.status_code == 200 and b"my order arrived damaged" in page.content
    response = admin_client.post(f"/admin/chatbot/supportticket/{ticket.pk}/change/", {
        "status": TicketStatus.OPEN,
        "replies-TOTAL_FORMS": "1", "replies-INITIAL_FORMS": "0", "replies-MIN_NUM_FORMS": "0", "replies-MAX_NUM_FORMS": "1000",
        "replies-0-text": "Sorry about that! I've arranged a replacement.", "replies-0-ticket": str(ticket.pk),
    })
    assert response.status_code == 302, response.content[:2000]

    staff_messages = [m for m in chat.history() if m["role"] == "staff"]
    ticket.refresh_from_db()
    assert [m["text"] for m in staff_messages] == ["Sorry about that! I've arranged a replacement."]
    assert ticket.status == TicketStatus.ANSWERED


def test_help_pages_render_faq_entries_escaped(client, faq):
    from chatbot.models import FAQEntry

    entry = FAQEntry.objects.create(question="<b>Bold</b> question?", answer="<script>alert(1)</script>")

    listing = client.get("/help/")
    detail = client.get(entry.get_absolute_url())

    assert listing.status_code == 200 and b"&lt;b&gt;Bold&lt;/b&gt;" in listing.content
    assert b"<script>alert(1)</script>" not in detail.content and b"&lt;script&gt;" in detail.content
