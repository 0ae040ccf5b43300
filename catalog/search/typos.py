"""Typo tolerance: the search vocabulary (words of titles, brands and categories with their document
frequency) and a corrector that finds, for a word the catalog does not know, the closest word it does.

Candidates come from a trigram index (a word within edit distance d of another shares all but at most 4d
of its trigrams: an edit touches three, a swap of neighbours four); the survivors are ranked by
Damerau-Levenshtein distance, then frequency. Everything is
in memory: a catalog's vocabulary is a few tens of thousands of words, and a lookup takes well under a
millisecond, on PostgreSQL and SQLite alike."""
from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

# Words shorter than this are left alone: at three letters nearly every string is one edit from a real word
# ("tee" -> "tea"), so a correction would be a guess.
MIN_CORRECTABLE_LENGTH = 4
# From this length two edits are allowed ("sweetshrit" -> "sweatshirt"); below it, one.
TWO_EDITS_FROM_LENGTH = 8


def edit_distance(a: str, b: str, limit: int) -> int:
    """Optimal-string-alignment distance (insert, delete, substitute, swap two neighbours) between `a` and
    `b`, or `limit + 1` as soon as it is known to exceed `limit`."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return previous[-1]


def _trigrams(word: str) -> set[str]:
    padded = f"${word}$"
    return {padded[i : i + 3] for i in range(len(padded) - 2)}


def looks_like_a_word(word: str) -> bool:
    """False for keyboard mash: no letters, no vowel in three or more letters ("xqzvw"), or one letter
    repeated ("qqqq")."""
    letters = [ch for ch in word if ch.isalpha()]
    if not letters:
        return False
    if len(letters) >= 3 and (len(set(letters)) == 1 or not any(ch in "aeiouy" for ch in letters)):
        return False
    return True


def singular(word: str) -> str:
    """A crude English singular ("dresses" -> "dress", "kurtas" -> "kurta"), enough to tell whether the
    catalog knows a word in another number."""
    if len(word) > 4 and word.endswith(("sses", "shes", "ches", "xes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


@dataclass
class Vocabulary:
    """What the catalog says, for query understanding: words with document frequencies, brand names (by
    the words a shopper would type for them) and colour facet values."""

    words: dict[str, int] = field(default_factory=dict)
    brands: dict[str, tuple[str, ...]] = field(default_factory=dict)  # "us polo assn" -> ("U.S. Polo Assn.",)
    colours: frozenset[str] = frozenset()
    # Words of the language the semantic model knows whole. They are never "corrected": the model
    # understands them ("tees", "sari"), and the nearest catalog word would change their meaning ("ties").
    language: frozenset[str] = frozenset()
    _index: dict[str, list[str]] | None = field(default=None, repr=False)
    _brand_prefixes: dict[str, tuple[str, ...]] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def knows(self, word: str) -> bool:
        """Whether the catalog uses `word` (in this or the other grammatical number)."""
        return word in self.words or singular(word) in self.words or f"{word}s" in self.words


    def correct(self, word: str) -> str | None:
        """The catalog word closest to an unknown `word`, or None if `word` is known (to the catalog or the
        language), too short to correct safely, or nothing is close enough."""
        if len(word) < MIN_CORRECTABLE_LENGTH or word.isdigit() or self.knows(word):
            return None
        if word in self.language or singular(word) in self.language:
            return None
        limit = 1 if len(word) < TWO_EDITS_FROM_LENGTH else 2
        best: tuple[int, int, str] | None = None
        for candidate in self._candidates(word, limit):
            distance = edit_distance(word, candidate, limit)
            if distance > limit:
                continue
            key = (distance, -self.words[candidate], candidate)
            if best is None or key < best:
                best = key
        return best[2] if best else None

    def complete(self, prefix: str, limit: int = 5) -> list[str]:
        """The most frequent vocabulary words starting with `prefix` (autocomplete's last word)."""
        if not prefix:
            return []
        matches = [w for w in self.words if w.startswith(prefix) and w != prefix]
        return sorted(matches, key=lambda w: (-self.words[w], w))[:limit]

    def brands_starting(self, words: str) -> tuple[str, ...]:
        """Brands whose name starts with `words` (two or more whole words: "us polo" -> U.S. Polo Assn.,
        U.S. Polo Assn. Kids...); () if none."""
        with self._lock:
            if self._brand_prefixes is None:
                prefixes: dict[str, tuple[str, ...]] = {}
                for key, names in self.brands.items():
                    parts = key.split()
                    for n in range(2, len(parts)):
                        prefix = " ".join(parts[:n])
                        prefixes[prefix] = tuple(dict.fromkeys((*prefixes.get(prefix, ()), *names)))
                self._brand_prefixes = prefixes
        return self._brand_prefixes.get(words, ())

    def _candidates(self, word: str, limit: int) -> Iterable[str]:
        grams = _trigrams(word)
        needed = max(1, len(grams) - 4 * limit)
        shared: Counter[str] = Counter()
        index = self._trigram_index()
        for gram in grams:
            shared.update(index.get(gram, ()))
        return [w for w, n in shared.items() if n >= needed]

    def _trigram_index(self) -> dict[str, list[str]]:
        # Built on first use: most processes never correct a word, and the index is the costly part.
        with self._lock:
            if self._index is None:
                index: dict[str, list[str]] = {}
                for word in self.words:
                    if len(word) >= MIN_CORRECTABLE_LENGTH - 1:
                        for gram in _trigrams(word):
                            index.setdefault(gram, []).append(word)
                self._index = index
            return self._index
