"""Scripted end-to-end dialogues through the real API on the template path: order status, cancel with
confirmation, return, address change, FAQ, multi-turn slot carry-over, guests, and hand-off."""
from chatbot.models import Conversation, ConversationStatus, SupportTicket
from shop.models import OrderStatus


def test_order_status_by_number(chat_as, shopper, make_order):
    order = make_order(shopper, status=OrderStatus.SHIPPED, title="Trail running shoes", tracking="TRK5550001")
    chat = chat_as(shopper)

    reply = chat.say(f"where is my order {order.number}?")

    assert reply.startswith(f"Order {order.number} (Trail running shoes x1) is shipped.")
    assert "TRK5550001" in reply and chat.last["tool"] == "order_status"


def test_cancel_needs_a_yes_in_a_second_turn(chat_as, shopper, make_order):
    order = make_order(shopper, status=OrderStatus.PAID, title="Cotton kurta")
    chat = chat_as(shopper)

    first = chat.say(f"please cancel order {order.number}")
    order.refresh_from_db()
    assert first.startswith(f"Do you want me to cancel order {order.number}") and order.status == OrderStatus.PAID
    assert chat.last["quick_replies"] == ["Yes, cancel it", "No, keep it"]

    second = chat.say("yes")
    order.refresh_from_db()
    assert second.startswith(f"Done: order {order.number} is cancelled.") and order.status == OrderStatus.CANCELLED
    assert order.status_changes.last().actor_label == "assistant"


def test_cancel_declined_or_ignored_changes_nothing(chat_as, shopper, make_order):
    order = make_order(shopper, status=OrderStatus.PAID)
    chat = chat_as(shopper)

    chat.say(f"cancel {order.number}")
    assert chat.say("no") == "Okay, I haven't changed anything. Is there anything else I can help with?"
    chat.say(f"cancel {order.number}")
    chat.say("how long does delivery take?")  # something else: the pending cancel is dropped
    chat.say("yes")

    order.refresh_from_db()
    assert order.status == OrderStatus.PAID


def test_start_a_return_for_a_delivered_order(chat_as, shopper, make_order):
    order = make_order(shopper, status=OrderStatus.DELIVERED, title="Wool scarf")
    chat = chat_as(shopper)

    assert chat.say(f"I'd like to return order {order.number}").startswith(f"Shall I start a return for order {order.number}")
    assert chat.say("yes please").startswith(f"Your return for order {order.number} is requested.")
    order.refresh_from_db()
    assert order.status == OrderStatus.RETURN_REQUESTED
    assert chat.say(f"has my refund for {order.number} been processed?").startswith(f"Your return for order {order.number} is under way.")


def test_change_the_address_before_shipping_over_three_turns(chat_as, shopper, make_order):
    order = make_order(shopper, status=OrderStatus.PAID)
    chat = chat_as(shopper)

    assert chat.say(f"I need to change the delivery address for {order.number}").startswith(f"What is the new delivery address for order {order.number}?")
    assert chat.say("Asha Rao, 7 Park Street, Kolkata 700016").startswith(
        f"Change the delivery address of order {order.number} to: Asha Rao, 7 Park Street, Kolkata 700016?")
    assert chat.say("yes").startswith(f"Done: order {order.number} will now go to 7 Park Street, Kolkata 700016.")
    order.refresh_from_db()
    assert (order.shipping_line1, order.shipping_city, order.shipping_postcode) == ("7 Park Street", "Kolkata", "700016")


def test_address_change_is_refused_once_shipped(chat_as, shopper, make_order):
    order = make_order(shopper, status=OrderStatus.SHIPPED)
    chat = chat_as(shopper)

    reply = chat.say(f"ship {order.number} to a different address")

    assert reply == f"Order {order.number} is shipped, so its delivery address can no longer be changed."


def test_which_order_then_a_description_carries_the_intent(chat_as, shopper, make_order):
    make_order(shopper, status=OrderStatus.DELIVERED, title="Leather belt", days_ago=40)
    shoes = make_order(shopper, status=OrderStatus.SHIPPED, title="Canvas shoes", days_ago=6, tracking="TRK42")
    make_order(shopper, status=OrderStatus.PAID, title="Silk scarf", days_ago=0)
    chat = chat_as(shopper)

    assert chat.say("where is my order?").startswith("Which order do you mean?")
    assert len(chat.last["quick_replies"]) == 3
    reply = chat.say("the shoes from last week")

    assert reply.startswith(f"Order {shoes.number} (Canvas shoes x1) is shipped.")
    # The order stays in context for the next question.
    assert chat.say("and can I get the invoice for it?").startswith(f"The invoice for order {shoes.number}")


def test_faq_answer_cites_its_entry(chat_as, shopper, faq):
    chat = chat_as(shopper)

    reply = chat.say("which payment methods do you accept?")

    assert reply.startswith("We accept credit and debit cards")
    assert chat.last["citations"][0]["url"].startswith("/help/which-payment-methods")


def test_low_confidence_says_so_and_offers_a_person(chat_as, shopper, faq):
    chat = chat_as(shopper)

    reply = chat.say("what's the weather in Goa tomorrow?")

    assert "Talk to a person" in chat.last["quick_replies"]
    assert reply.startswith("Sorry, that's not something I can help with here.")


def test_signed_in_shopper_without_orders_is_told_so(chat_as, shopper):
    assert chat_as(shopper).say("where is my order").startswith("I don't see any orders in your account yet.")


def test_guest_is_asked_to_sign_in_or_give_the_order_number(chat_as, other_shopper, make_order):
    chat = chat_as(None)

    assert chat.say("where is my order?").startswith("I can help with that. You're not signed in")
    order = make_order(other_shopper)
    assert chat.say(order.number) == f"To keep orders private, please tell me the e-mail address used on order {order.number}."


def test_guest_sees_orders_placed_in_their_own_session(chat_as, make_order):
    chat = chat_as(None)
    order = make_order(None, session_key=chat.session_key, title="Yoga mat")

    assert chat.say("track my order").startswith(f"Order {order.number} (Yoga mat x1)")


def test_guest_verifies_with_the_orders_email_and_only_then_sees_it(chat_as, make_order):
    order = make_order(None, session_key="placed-elsewhere", email="meera@example.com", title="Bamboo towel")
    chat = chat_as(None)

    chat.say(f"where is order {order.number}")
    assert chat.say("it's wrong@example.com").startswith("Sorry, I can't match that order number and e-mail address")
    chat.say(f"where is order {order.number}")
    assert chat.say("meera@example.com").startswith(f"Order {order.number} (Bamboo towel x1)")


def test_hand_off_creates_a_ticket_with_the_transcript(chat_as, shopper):
    chat = chat_as(shopper)
    chat.say("my parcel came damaged and I'm upset")

    reply = chat.say("I want to talk to a real person")

    conversation = Conversation.objects.get(pk=chat.id)
    ticket = SupportTicket.objects.get(conversation=conversation)
    assert reply.startswith("I've passed this conversation to our support team.")
    assert conversation.status == ConversationStatus.HANDED_OFF
    assert "Shopper: my parcel came damaged and I'm upset" in ticket.transcript
    assert "Shopper: I want to talk to a real person" in ticket.transcript
    # From now on the assistant is quiet and what the shopper writes reaches the ticket.
    assert chat.say("the box was crushed") == ""
    ticket.refresh_from_db()
    assert ticket.transcript.endswith("Shopper: the box was crushed")


def test_guest_email_is_matched_case_insensitively(chat_as, make_order):
    order = make_order(None, session_key="placed-elsewhere", email="meera@example.com", title="Bamboo towel")
    chat = chat_as(None)

    chat.say(f"where is order {order.number}")

    assert chat.say("MEERA@Example.com").startswith(f"Order {order.number} (Bamboo towel x1)")


def test_guest_gets_the_same_answer_for_a_wrong_number_and_a_wrong_email(chat_as, make_order):
    order = make_order(None, session_key="placed-elsewhere", email="meera@example.com")
    other = make_order(None, session_key="also-elsewhere", email="ravi@example.com")
    wrong_email, wrong_number = chat_as(None), chat_as(None)

    asked_email = wrong_email.say(f"where is order {order.number}")
    asked_number = wrong_number.say("where is order AI-ZZZZZZZZZZ")
    # A real e-mail address, but of another order: it opens nothing either.
    after_wrong_email = wrong_email.say(other.email)
    after_wrong_number = wrong_number.say(order.email)

    assert asked_email == f"To keep orders private, please tell me the e-mail address used on order {order.number}."
    assert asked_number == "To keep orders private, please tell me the e-mail address used on order AI-ZZZZZZZZZZ."
    assert after_wrong_email == after_wrong_number
    assert after_wrong_email.startswith("Sorry, I can't match that order number and e-mail address")
