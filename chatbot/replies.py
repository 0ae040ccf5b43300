"""Wording replies: fixed templates for the dialogue's own questions, tool results and FAQ answers as the
template path (no generation, fast), and SmolLM2 through llm_core for a friendlier wording of the same
facts when streaming.

Generated text is untrusted output. It is kept only if it passes `is_grounded` (no figure, link, e-mail or
word that is not in the facts, negations kept, no echo of the instruction); otherwise the template text
replaces it, also in the widget, where the "done" event's text overwrites the streamed pieces. Either way it is plain text: the widget inserts it
with textContent, and the API returns it as a JSON string.
"""
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)

STARTERS = ["Where is my order?", "Cancel an order", "Start a return", "Delivery times", "Talk to a person"]
GREETING = "Hi! I'm Aisle's assistant. I can track, cancel or return your orders, change a delivery address before it ships, and answer questions about delivery, payments and returns. How can I help?"
OUT_OF_SCOPE = "Sorry, that's not something I can help with here. I can help with your orders, returns and refunds, delivery, payments, your account, and finding products."
HANDOFF = "I've passed this conversation to our support team. A person will reply right here in this chat (9:00-21:00 IST, every day). You can keep writing; they'll see everything."
WHICH_ORDER = "Which order do you mean? Pick one below, give me its number, or describe it (for example \"the shoes from last week\")."
NO_ORDERS = "I don't see any orders in your account yet. If you ordered as a guest, sign out and give me the order number with the e-mail you used."
GUEST_ASK_ORDER = "I can help with that. You're not signed in, so please sign in, or give me the order number (it starts with AI-) and I'll ask for the e-mail address used on it."
GUEST_ASK_EMAIL = "To keep orders private, please tell me the e-mail address used on order {number}."
GUEST_NOT_VERIFIED = "Sorry, I can't match that order number and e-mail address, so I can't share anything about it. Please check both, sign in, or talk to a person."
NOTHING_CHANGED = "Okay, I haven't changed anything. Is there anything else I can help with?"

# The fixed instruction generation runs under. Short on purpose: a 135M model follows a short instruction
# better. Its keys and values are computed once per process (chatbot.generation), so its length does not
# add to the time to the first token; the facts' length does. It holds no secrets.
SYSTEM_INSTRUCTION = (
    "You are the support assistant of the Aisle shop. Reword the facts as one short, friendly reply to the "
    "customer. Add nothing that is not in the facts."
)


@dataclass
class StreamEvent:
    kind: str  # "token" (a piece of text) or "final" (the text to keep, which may replace the pieces)
    text: str


_CHECKED = re.compile(r"AI-[A-Z0-9]{10}|https?://\S+|/[\w\-/]+/|[\w.+-]+@[\w-]+\.[\w.]+|\d[\d,.:]*")
_WORD = re.compile(r"[a-z]+")
_NEGATION = re.compile(r"\b(no|not|never|cannot|can't|won't|don't|doesn't|isn't|aren't|nothing)\b|n't\b", re.I)
# Words a friendly wording may add without adding a fact.
_FRAME_WORDS = frozenset(
    "a an the and or but so to of in on at for with by from as is are be been was were it its this that these "
    "those you your yours we our us i me my he she they them their there here what which who how when where "
    "why do does did can could will would should may might shall have has had just also too very really "
    "sure happy glad help helps helping hope thanks thank please hello hi hey great good of course certainly "
    "absolutely anything else let know question questions assist more info information about right now today "
    "if all any some one only then than yes okay ok well always simply currently".split()
)


def is_grounded(generated: str, facts_text: str) -> bool:
    """Whether generated text only states what the facts state: its numbers, order numbers, links and
    e-mails appear in the facts, so does every other word (bar a few friendly ones), a negation in the
    facts is kept (a small model drops "not" and flips a policy), and it does not echo the instruction."""
    if not generated.strip():
        return False
    if any(token.rstrip(".,:") not in facts_text for token in _CHECKED.findall(generated)):
        return False
    fact_words = set(_WORD.findall(facts_text.lower()))
    if any(w not in fact_words and w not in _FRAME_WORDS for w in _WORD.findall(generated.lower())):
        return False
    if _NEGATION.search(facts_text) and not _NEGATION.search(generated):
        return False
    words = SYSTEM_INSTRUCTION.lower().split()
    lowered = " ".join(generated.lower().split())
    return not any(" ".join(words[i : i + 6]) in lowered for i in range(len(words) - 5))


def template_pieces(text: str) -> Iterator[str]:
    """The template text in word-sized pieces, so the widget streams every reply the same way."""
    for match in re.finditer(r"\S+\s*", text):
        yield match.group(0)


def generation_enabled() -> bool:
    return bool(getattr(settings, "CHATBOT_GENERATION", True))


def base_model() -> tuple[Any, Any]:
    """(model, tokenizer) that words replies: settings.CHATBOT_BASE_MODEL names a zero-argument callable,
    by default llm_core's process-wide SmolLM2 (loaded once, lazily)."""
    return import_string(getattr(settings, "CHATBOT_BASE_MODEL", "llm_core.serving.get_base_model"))()


def _generated_pieces(facts_text: str) -> Iterator[str]:
    from chatbot.generation import stream_wording

    model, tokenizer = base_model()
    yield from stream_wording(model, tokenizer, instruction=SYSTEM_INSTRUCTION, facts=facts_text,
                              max_new_tokens=int(getattr(settings, "CHATBOT_MAX_NEW_TOKENS", 96)), bf16_prefill=bf16_prefill(),
                              facts_cache_size=int(getattr(settings, "CHATBOT_FACTS_CACHE_SIZE", 32)))


def bf16_prefill() -> bool:
    """Whether the facts are prefilled with bf16 matmuls where the CPU has them (CHATBOT_BF16_PREFILL, on by
    default; off gives the all-float32 wording)."""
    return bool(getattr(settings, "CHATBOT_BF16_PREFILL", True))


def warm_generation() -> None:
    """Load the wording model and its instruction cache now (worker start), not on a shopper's first reply.
    A no-op when generation is off."""
    if not generation_enabled():
        return
    from chatbot.generation import warm

    model, tokenizer = base_model()
    warm(model, tokenizer, SYSTEM_INSTRUCTION, bf16_prefill=bf16_prefill())


def stream_reply(template_text: str, *, wordable: bool) -> Iterator[StreamEvent]:
    """Stream a reply: SmolLM2's wording of the template's facts when `wordable` and generation is on,
    else the template itself. Always ends with one "final" event holding the text to store."""
    if not (wordable and generation_enabled()):
        for piece in template_pieces(template_text):
            yield StreamEvent("token", piece)
        yield StreamEvent("final", template_text)
        return
    produced = []
    try:
        for piece in _generated_pieces(template_text):
            produced.append(piece)
            yield StreamEvent("token", piece)
    except Exception:  # a broken model must cost the shopper nothing but the nicer wording
        logger.exception("chat generation failed; using the template reply")
    generated = "".join(produced).strip()
    yield StreamEvent("final", generated if is_grounded(generated, template_text) else template_text)
