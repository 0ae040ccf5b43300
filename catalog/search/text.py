"""Text normalisation shared by the indexer, the query parser and the typo corrector, so that a product's
words and a shopper's words are cut and spelled the same way on both sides of the index."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# A word is letters/digits, optionally joined by - ' ’ . & inside it ("t-shirt", "men's", "u.s", "here&now").
_WORD = re.compile(r"[^\W_]+(?:[-'’.&/][^\W_]+)*")
_JOINERS = re.compile(r"[-'’.&/]")
# Queries longer than this are cut: nobody types more, and it bounds the work a request can ask for.
MAX_QUERY_CHARS = 200
MAX_QUERY_WORDS = 24


@dataclass(frozen=True)
class Token:
    """A word of a query: its normalised form and where it sits in the original text."""

    norm: str
    start: int
    end: int


def fold(text: str) -> str:
    """Lower case without accents ("Café" -> "cafe"); other scripts are kept as they are."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()


def _joined(raw: str) -> str:
    return _JOINERS.sub("", raw)


def query_tokens(text: str) -> list[Token]:
    """The words of a query, each normalised ("T-Shirts" -> "tshirts", "men's" -> "mens") with its span in
    `text`. A hyphenated word is kept joined: the shopper meant one thing."""
    tokens = []
    for match in _WORD.finditer(text[:MAX_QUERY_CHARS]):
        norm = _joined(fold(match.group()))
        if norm:
            tokens.append(Token(norm, match.start(), match.end()))
        if len(tokens) == MAX_QUERY_WORDS:
            break
    return tokens


def index_words(text: str) -> list[str]:
    """The words a document is indexed under. A hyphenated compound is indexed joined and by its parts
    ("slim-fit" -> "slimfit slim fit"), so both "slim fit" and "slimfit" find it; but one whose part is a
    single letter is indexed joined only ("t-shirt" -> "tshirt"), because "t" is noise and indexing "shirt"
    would make every T-shirt a match for "shirt"."""
    words: list[str] = []
    for match in _WORD.finditer(fold(text)):
        raw = match.group()
        parts = [p for p in _JOINERS.split(raw) if p]
        joined = "".join(parts)
        words.append(joined)
        if len(parts) > 1 and all(len(p) > 1 for p in parts):
            words.extend(parts)
    return words


def index_text(text: str) -> str:
    """`text` as the space-separated words it is indexed under (see index_words)."""
    return " ".join(index_words(text))


def phrase_key(text: str) -> str:
    """A multi-word name ("U.S. Polo Assn.", "Mast & Harbour") as the words a query would show it with."""
    return " ".join(token.norm for token in query_tokens(text))
