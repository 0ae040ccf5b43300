"""FAQ retrieval: hybrid BM25 + MiniLM ranking, measured as recall@1 and recall@3 on paraphrased questions
(written for these tests, never indexed), plus index freshness and the low-confidence path."""
import json
from pathlib import Path

import pytest

from chatbot import knowledge
from chatbot.models import FAQEntry

# Paraphrases of the shipped demo FAQ questions: (shopper's wording, the entry's question).
DEMO_PARAPHRASES = [
    ("how many days until my package gets to me", "How long does delivery take?"),
    ("when will stuff I order arrive", "How long does delivery take?"),
    ("is express shipping available", "What delivery options do you offer?"),
    ("can you send parcels to the UK", "Do you ship outside India?"),
    ("where can I follow my shipment", "How can I track my order?"),
    ("is it possible to call off an order I placed", "Can I cancel my order?"),
    ("do you charge anything if I cancel", "Is there a cancellation fee?"),
    ("how many days do I have to send something back", "What is your return policy?"),
    ("what are the steps to send back a product", "How do I return an item?"),
    ("how soon is the money returned after a return", "When will I get my refund?"),
    ("in which cases is my money refunded", "What is your refund policy?"),
    ("can I pay using UPI or a debit card", "Which payment methods do you accept?"),
    ("money got deducted from my bank but the order failed", "My payment failed but money was deducted. What should I do?"),
    ("I need a GST bill for my purchase", "How do I get an invoice for my order?"),
    ("can I fix the delivery address on an order I already placed", "Can I change my delivery address after ordering?"),
    ("how do I register on your site", "How do I create an account?"),
    ("I can't remember my login password", "I forgot my password. How do I reset it?"),
    ("please remove my profile and personal data", "How do I delete my account?"),
    ("which size should I buy if I'm between two", "How do I choose the right size?"),
    ("can I swap this shirt for a larger one", "Can I exchange an item for a different size?"),
    ("the item I got is broken", "What if my item arrives damaged or wrong?"),
    ("what are your support hours", "How do I contact customer service?"),
    ("stop sending me marketing emails", "How do I subscribe to or leave the newsletter?"),
    ("where can I rate a product I bought", "How do I leave a product review?"),
    ("are your brands original or fakes", "Are the products genuine?"),
]

# Paraphrases for a sample of ../shared/datasets/ecommerce_faq (its own questions are what gets indexed).
ECOMMERCE_FAQ = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "ecommerce_faq" / "Ecommerce_FAQ_Chatbot_dataset.json"
ECOMMERCE_PARAPHRASES = [
    ("how do I sign up for an account", "How can I create an account?"),
    ("which ways of paying do you take", "What payment methods do you accept?"),
    ("where do I see where my package is", "How can I track my order?"),
    ("how does returning items work for you", "What is your return policy?"),
    ("is it possible to call off my order", "Can I cancel my order?"),
    ("how many days will delivery take", "How long does shipping take?"),
    ("do you send orders abroad", "Do you offer international shipping?"),
    ("I entered the wrong address, can I update it", "Can I change my shipping address after placing an order?"),
    ("how do I reach your support team", "How can I contact customer support?"),
    ("can you wrap my present", "Do you offer gift wrapping services?"),
    ("do you have a rewards scheme for regular customers", "Do you have a loyalty program?"),
    ("can I stack two coupon codes", "Can I use multiple promo codes on a single order?"),
    ("I need a bill for my purchase", "Can I request an invoice for my order?"),
    ("what do you send in your mailing list", "What is your email newsletter about?"),
    ("where can I write a review of something I bought", "How can I leave a product review?"),
]


def recall_at(paraphrases: list[tuple[str, str]], k: int) -> float:
    hits = 0
    for query, question in paraphrases:
        found = [hit.question for hit in knowledge.search(query, limit=k)]
        hits += question in found
    return hits / len(paraphrases)


def test_bm25_prefers_documents_with_the_rare_query_word():
    index = knowledge.BM25([["refund", "policy"], ["gst", "invoice"], ["invoice", "link"]])

    scores = index.scores(["gst", "invoice"])

    assert scores.argmax() == 1 and scores[0] == 0


def test_demo_faq_recall_at_1_and_3_on_paraphrases(faq):
    at1, at3 = recall_at(DEMO_PARAPHRASES, 1), recall_at(DEMO_PARAPHRASES, 3)

    print(json.dumps({"faq_recall": {"queries": len(DEMO_PARAPHRASES), "at1": at1, "at3": at3}}))
    assert at1 >= 0.8
    assert at3 >= 0.95


@pytest.mark.skipif(not ECOMMERCE_FAQ.is_file(), reason="../shared/datasets/ecommerce_faq is not present")
def test_ecommerce_faq_dataset_recall_on_paraphrases(db):
    for item in json.loads(ECOMMERCE_FAQ.read_text())["questions"]:
        FAQEntry.objects.create(question=item["question"][:255], answer=item["answer"])

    at1, at3 = recall_at(ECOMMERCE_PARAPHRASES, 1), recall_at(ECOMMERCE_PARAPHRASES, 3)

    print(json.dumps({"ecommerce_faq_recall": {"entries": FAQEntry.objects.count(), "at1": at1, "at3": at3}}))
    # Its 79 entries include some thirty near-duplicates about returns, so "how do returns work" is hard.
    assert at1 >= 0.8 and at3 >= 0.9


def test_answers_cite_the_entry_they_came_from(faq):
    hit = knowledge.search("can I pay with UPI", limit=1)[0]

    assert hit.citation() == {"id": hit.entry_id, "title": hit.question, "url": f"/help/{FAQEntry.objects.get(pk=hit.entry_id).slug}/"}


def test_unrelated_questions_are_not_confident(faq):
    for query in ["what's the capital of Peru", "write me a poem about rain", "how do I bake sourdough"]:
        assert not knowledge.is_confident(knowledge.search(query)), query


def test_index_follows_admin_edits_and_ignores_inactive_entries(faq):
    entry = FAQEntry.objects.create(question="Do you offer gift wrapping?", answer="Yes, for ₹49 at checkout.", tags="gift wrap")
    assert knowledge.search("can my present be gift wrapped", limit=1)[0].entry_id == entry.pk

    entry.active = False
    entry.save()

    assert all(hit.entry_id != entry.pk for hit in knowledge.search("can my present be gift wrapped", limit=3))
