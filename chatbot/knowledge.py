"""FAQ retrieval: hybrid keyword (BM25) + MiniLM embedding ranking over the active FAQ entries.

The index is built once per process and rebuilt when an entry changes (count or last update differ), so
edits in the admin reach the next question without a restart. Scores are fused by a weighted sum of the
cosine similarity and the BM25 score normalised by the query's possible score; the cosine of the best hit is the confidence that
decides whether an answer is given or the shopper is offered a person instead.
"""
import math
import re
import threading
from collections import Counter
from dataclasses import dataclass

import numpy as np
from django.db.models import Count, Max

from chatbot.models import FAQEntry
from llm_core.embeddings import embed

# Fusion weight of the keyword score; the embedding carries paraphrases, BM25 carries rare exact words
# ("GST", "RuPay") that a small sentence encoder blurs.
KEYWORD_WEIGHT = 0.2
# Below this fused score the best entry is not trusted to answer. Measured on the demo FAQ: paraphrased
# questions (tests/chatbot/test_knowledge.py) score 0.37-0.81 at the top, off-topic requests
# (tests/chatbot/oos_probes.csv) 0.04-0.29.
CONFIDENT_SCORE = 0.33
BM25_K1, BM25_B = 1.5, 0.75
_STOPWORDS = frozenset(
    "a an and are as at be by can do does for from have how i if in is it me my of on or our so that the to "
    "what when where which who why will with you your".split()
)
_WORD = re.compile(r"[a-z0-9₹]+")


def tokenize(text: str) -> list[str]:
    # A crude plural strip so "returns" matches "return"; enough for short FAQ text.
    return [w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w
            for w in _WORD.findall(text.lower()) if w not in _STOPWORDS]


class BM25:
    """Okapi BM25 over tokenised documents."""

    def __init__(self, documents: list[list[str]]):
        self.documents = [Counter(doc) for doc in documents]
        self.lengths = [len(doc) for doc in documents]
        self.average_length = (sum(self.lengths) / len(documents)) if documents else 0.0
        frequency = Counter(term for doc in self.documents for term in doc)
        n = len(documents)
        self.idf = {term: math.log(1 + (n - df + 0.5) / (df + 0.5)) for term, df in frequency.items()}

    def idf_of(self, term: str) -> float:
        # A word no entry has is as rare as can be: it counts fully against the query's possible score.
        n = len(self.documents)
        return self.idf.get(term, math.log(1 + (n + 0.5) / 0.5))

    def scores(self, query: list[str]) -> np.ndarray:
        """Scores in [0, 1]: BM25 divided by what a document matching every query word once, at average
        length, would score. Unlike dividing by the best document's score, a query that matches one common
        word of an entry ("capital of Peru" -> "capital") stays low."""
        possible = sum(self.idf_of(term) for term in set(query))
        result = np.zeros(len(self.documents), dtype=np.float32)
        for i, (doc, length) in enumerate(zip(self.documents, self.lengths)):
            norm = BM25_K1 * (1 - BM25_B + BM25_B * length / (self.average_length or 1))
            for term in set(query):
                tf = doc.get(term, 0)
                if tf:
                    result[i] += self.idf[term] * tf * (BM25_K1 + 1) / (tf + norm)
        return np.minimum(result / possible, 1.0) if possible else result


@dataclass(frozen=True)
class Hit:
    entry_id: int
    question: str
    answer: str
    url: str
    score: float

    def citation(self) -> dict:
        return {"id": self.entry_id, "title": self.question, "url": self.url}


class _Index:
    def __init__(self, entries: list[FAQEntry]):
        self.entries = entries
        # The question carries the meaning; tags add the words shoppers use; the answer's opening sentence
        # anchors what the entry is about without diluting the vector with policy detail.
        documents = [f"{e.question} {e.tags.replace(',', ' ')} {e.question}. {e.answer}" for e in entries]
        self.bm25 = BM25([tokenize(d) for d in documents])
        texts = [f"{e.question} ({e.tags})" if e.tags else e.question for e in entries]
        self.vectors = np.asarray(embed(texts), dtype=np.float32) if entries else np.zeros((0, 384), np.float32)


_index: tuple[tuple, _Index] | None = None
_index_lock = threading.Lock()


def _current_index() -> _Index:
    global _index
    active = FAQEntry.objects.filter(active=True)
    stamp = tuple(active.aggregate(n=Count("id"), changed=Max("updated_at")).values())
    with _index_lock:
        if _index is None or _index[0] != stamp:
            _index = (stamp, _Index(list(active.order_by("id"))))
        return _index[1]


def search(query: str, *, limit: int = 3) -> list[Hit]:
    """The best `limit` active FAQ entries for `query`, best first, with fused scores in [0, 1]."""
    index = _current_index()
    if not index.entries or not query.strip():
        return []
    vector = np.asarray(embed([query]), dtype=np.float32)[0]
    cosine = index.vectors @ vector
    keyword = index.bm25.scores(tokenize(query))
    fused = (1 - KEYWORD_WEIGHT) * cosine + KEYWORD_WEIGHT * keyword
    order = np.argsort(-fused)[:limit]
    return [
        Hit(index.entries[i].id, index.entries[i].question, index.entries[i].answer,
            index.entries[i].get_absolute_url(), float(fused[i]))
        for i in order
    ]


def is_confident(hits: list[Hit]) -> bool:
    return bool(hits) and hits[0].score >= CONFIDENT_SCORE
