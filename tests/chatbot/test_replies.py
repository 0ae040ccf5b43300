"""The grounding check that decides whether a generated wording may replace the template reply."""
import pytest

from chatbot.replies import SYSTEM_INSTRUCTION, is_grounded, stream_reply

PAYMENT_FACTS = ("We accept credit and debit cards (Visa, Mastercard, RuPay), UPI, and net banking. "
                 "Cash on delivery is not available at the moment.")


@pytest.mark.parametrize(
    ("generated", "grounded"),
    [
        ("Sure! We accept credit and debit cards, UPI and net banking. Cash on delivery is not available.", True),
        # What SmolLM2-135M actually wrote for these facts: the negation dropped, the policy flipped.
        ("We accept credit and debit cards, cash on delivery, and net banking.", False),
        ("We accept UPI, and you get 10% off with it.", False),  # a figure the facts do not have
        ("We accept PayPal and cards, but cash is not available.", False),  # a word the facts do not have
        ("See https://example.com/pay for details; cash is not available.", False),
        (SYSTEM_INSTRUCTION, False),
        ("", False),
    ],
)
def test_generated_text_is_kept_only_when_it_states_nothing_new(generated, grounded):
    assert is_grounded(generated, PAYMENT_FACTS) is grounded


def test_template_path_streams_the_template_word_by_word(settings):
    settings.CHATBOT_GENERATION = False

    events = list(stream_reply(PAYMENT_FACTS, wordable=True))

    assert "".join(e.text for e in events if e.kind == "token") == PAYMENT_FACTS
    assert events[-1].kind == "final" and events[-1].text == PAYMENT_FACTS
