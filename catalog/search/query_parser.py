"""Query understanding: plain words in, search text plus structured filters out.

    "red cotton kurta for women under 1500"
    -> text "cotton kurta", colour red, audience women (and unisex), price <= 1500

Prices ("under 1500", "between 500 and 1000", "₹500-1000", "above 2k", "rs 999"), audiences ("for women",
"men's", "kids"), colours (the catalog's own facet values plus common shade names: "navy" is a blue),
sizes ("size M", "XL", "UK 8") and brands known to the catalog ("us polo", "HERE&NOW") become filters; each
becomes a chip the shopper can remove, which re-runs the query without the words it came from. Unknown
words are corrected against the catalog's vocabulary ("jaket" -> "jacket"). What is left is the text the
keyword and semantic rankers see.

The parser is a pure function of the query and a Vocabulary, so it is tested without a database."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from catalog.search.text import MAX_QUERY_CHARS, Token, query_tokens
from catalog.search.typos import Vocabulary, looks_like_a_word

# ------------------------------------------------------------------------------------------ word lists

# Audience words -> the audiences a product may have to suit. Unisex products suit women and men alike,
# and products for kids in general suit boys and girls.
_AUDIENCE_WORDS = {
    **dict.fromkeys(["women", "woman", "womens", "womans", "ladies", "lady", "ladys", "female", "females"], "women"),
    **dict.fromkeys(["men", "man", "mens", "mans", "gents", "gent", "male", "males", "guys"], "men"),
    **dict.fromkeys(["boys", "boy", "boyz"], "boys"),
    **dict.fromkeys(["girls", "girl", "girlz"], "girls"),
    **dict.fromkeys(["kids", "kid", "children", "child", "childrens", "toddler", "toddlers"], "kids"),
    "unisex": "unisex",
}
# Only after "for": "her" and "him" are too common elsewhere to mean an audience on their own.
_AUDIENCE_AFTER_FOR = {"her": "women", "him": "men"}
AUDIENCE_SCOPE = {
    "women": ("women", "unisex"),
    "men": ("men", "unisex"),
    "boys": ("boys", "kids"),
    "girls": ("girls", "kids"),
    "kids": ("kids", "boys", "girls"),
    "unisex": ("unisex",),
}

# Shade -> the basic colour it is a kind of. A shade filters on itself and its basic colour, because
# catalogs file a navy shirt under "Blue" as often as under "Navy".
_SHADES = {
    "navy": "blue", "navy blue": "blue", "navyblue": "blue", "sky blue": "blue", "skyblue": "blue",
    "teal": "blue", "turquoise": "blue", "aqua": "blue", "cobalt": "blue", "indigo": "blue",
    "olive": "green", "mint": "green", "emerald": "green", "lime": "green", "sea green": "green",
    "crimson": "red", "scarlet": "red", "cherry": "red", "wine": "maroon", "burgundy": "maroon",
    "fuchsia": "pink", "rose": "pink", "blush": "pink", "coral": "orange", "rust": "orange", "peach": "orange",
    "violet": "purple", "mauve": "purple", "lilac": "lavender", "lavender": "purple", "magenta": "pink",
    "mustard": "yellow", "lemon": "yellow", "golden": "gold", "charcoal": "grey", "gray": "grey", "ash": "grey",
    "tan": "brown", "camel": "brown", "coffee": "brown", "chocolate": "brown", "khaki": "beige",
    "cream": "beige", "nude": "beige", "offwhite": "white", "off white": "white", "ivory": "white",
}
_BASIC_COLOURS = {
    "red", "blue", "green", "black", "white", "grey", "brown", "yellow", "pink", "beige", "gold", "maroon",
    "orange", "silver", "purple", "navy", "khaki", "bronze", "copper",
}
# A tone word before a colour belongs to the colour ("light blue" is one chip, filtering on blue).
_TONES = {"light", "dark", "pale", "bright", "deep", "neon", "pastel"}

_LETTER_SIZES = {"xxs", "xs", "s", "m", "l", "xl", "xxl", "xxxl", "2xl", "3xl", "4xl", "5xl"}
# Standalone letter sizes only where they cannot be ordinary words ("s", "m" and "l" need "size" first).
_STANDALONE_SIZES = {"xxs", "xs", "xl", "xxl", "xxxl", "2xl", "3xl", "4xl", "5xl"}

# Words that carry no meaning for ranking: left out of the search text (they remain in what the shopper sees).
_FILLER = {
    "a", "an", "the", "for", "with", "in", "of", "and", "or", "to", "on", "at", "by", "me", "my", "i", "im",
    "want", "wanted", "need", "show", "buy", "find", "get", "looking", "look", "some", "any", "please", "pls",
    "online", "shop", "shopping", "cheap", "cheapest", "budget", "affordable", "best", "good", "nice",
    "latest", "new", "top", "price", "priced", "rs", "inr", "rupees", "rupee", "size", "sized", "colour",
    "color", "coloured", "colored", "brand", "from", "something", "items", "item", "products", "product",
}

# ------------------------------------------------------------------------------------------- prices

_CURRENCY = r"(?:rs\.?|inr|₹|rupees?)"
_NUMBER = r"(\d{1,3}(?:,\d{2,3})+|\d+(?:\.\d+)?)\s*(k\b)?"
_AMOUNT = rf"(?:{_CURRENCY}\s*)?{_NUMBER}(?:\s*(?:{_CURRENCY}|/-))?"
_BOUNDARY = r"(?<![\w.])"
_PRICE_PATTERNS = [
    ("range", re.compile(rf"{_BOUNDARY}(?:between|from)\s+{_AMOUNT}\s*(?:and|to|-|–)\s*{_AMOUNT}", re.I)),
    ("range", re.compile(rf"{_BOUNDARY}{_AMOUNT}\s*(?:-|–|to)\s*{_AMOUNT}", re.I)),
    ("max", re.compile(
        rf"{_BOUNDARY}(?:under|below|less\s+than|lesser\s+than|cheaper\s+than|upto|up\s+to|within|max(?:imum)?"
        rf"|not\s+more\s+than|at\s+most|<=?)\s*{_AMOUNT}", re.I)),
    ("min", re.compile(
        rf"{_BOUNDARY}(?:over|above|more\s+than|greater\s+than|min(?:imum)?|at\s+least|atleast"
        rf"|starting\s+(?:at|from)|from|>=?)\s*{_AMOUNT}", re.I)),
    # A bare amount with a currency ("rs 999", "₹999", "999/-") reads as a budget.
    ("max", re.compile(rf"{_BOUNDARY}(?:{_CURRENCY}\s*{_NUMBER}|{_NUMBER}\s*(?:rs\b\.?|inr\b|rupees?\b|/-))", re.I)),
]
# Below this an amount is more likely a count or a size ("under 5" kids' ages) than a price.
_MIN_PRICE_VALUE = Decimal(10)


def _amount(number: str | None, thousands: str | None) -> Decimal | None:
    if not number:
        return None
    try:
        value = Decimal(number.replace(",", ""))
    except InvalidOperation:
        return None
    return value * 1000 if thousands else value


# ------------------------------------------------------------------------------------------- result


@dataclass(frozen=True)
class Chip:
    """A filter read from the query, shown as a removable chip; `remove_query` is the query without it."""

    key: str  # "price", "audience", "colour", "size", "brand" ("all" for a suggestion to drop every filter)
    label: str
    remove_query: str


@dataclass(frozen=True)
class ParsedQuery:
    original: str
    # What both rankers see: the meaningful words, corrected. Colour, audience, brand, size and price are
    # left out: the filters enforce them, and in a short text they would drown the product type the
    # embedding should match ("green pillow covers for women" is about pillow covers).
    text: str
    colours: tuple[str, ...] = ()
    audiences: tuple[str, ...] = ()
    brands: tuple[str, ...] = ()
    sizes: tuple[str, ...] = ()
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    chips: tuple[Chip, ...] = ()
    # Whether any word of `text` is one the catalog uses or at least looks like a word. Keyboard mash
    # ("xqzvw") is not sent to semantic ranking, whose nearest vectors to noise are noise. (Knowing the
    # language model's vocabulary is no test: it lacks "frock", "rucksack" and many more it embeds well.)
    understood: bool = False
    corrections: tuple[tuple[str, str], ...] = ()  # (typed, used instead)
    corrected_query: str = ""  # the original with the corrections applied; "" when nothing was corrected

    @property
    def terms(self) -> tuple[str, ...]:
        return tuple(self.text.split())

    @property
    def has_filters(self) -> bool:
        return bool(self.colours or self.audiences or self.brands or self.sizes) or (
            self.min_price is not None or self.max_price is not None
        )

    @property
    def is_empty(self) -> bool:
        return not self.text and not self.has_filters


@dataclass
class _Word:
    token: Token
    norm: str  # after compound joining and correction
    role: str = "text"  # text, filler, audience, colour, size, brand, price
    typed: str = ""  # the shopper's spelling when `norm` is a correction


@dataclass
class _Parse:
    original: str
    words: list[_Word]
    vocabulary: Vocabulary
    price_spans: list[tuple[int, int]] = field(default_factory=list)
    chips: list[Chip] = field(default_factory=list)

    def remove_query(self, spans: list[tuple[int, int]]) -> str:
        text = self.original
        for start, end in sorted(spans, reverse=True):
            text = text[:start] + " " + text[end:]
        return " ".join(text.split())


# ------------------------------------------------------------------------------------------- parsing


def parse_query(query: str, vocabulary: Vocabulary | None = None, *, correct: bool = True) -> ParsedQuery:
    """Read filters out of a plain-words query and return what is left as search text (see module doc);
    with `correct`, words the vocabulary does not know are replaced by their nearest known word.
    Never raises: any string, however long or odd, gives a ParsedQuery (possibly empty)."""
    vocabulary = vocabulary or Vocabulary()
    original = " ".join(str(query or "")[:MAX_QUERY_CHARS].split())
    parse = _Parse(original=original, words=[], vocabulary=vocabulary)
    min_price, max_price = _read_prices(parse)
    parse.words = [
        _Word(token, token.norm)
        for token in query_tokens(original)
        if not any(start <= token.start < end for start, end in parse.price_spans)
    ]
    _join_compounds(parse)
    if correct:
        _correct(parse)
    sizes = _read_sizes(parse)
    brands = _read_brands(parse)
    colours = _read_colours(parse)
    audiences = _read_audiences(parse)
    for word in parse.words:
        if word.role == "text" and word.norm in _FILLER:
            word.role = "filler"
    text_words = [w.norm for w in parse.words if w.role == "text"]
    corrections = tuple((w.typed, w.norm) for w in parse.words if w.typed)
    return ParsedQuery(
        original=original,
        text=" ".join(dict.fromkeys(text_words)),
        colours=colours,
        audiences=audiences,
        brands=brands,
        sizes=sizes,
        min_price=min_price,
        max_price=max_price,
        chips=tuple(parse.chips),
        understood=any(vocabulary.knows(word) or looks_like_a_word(word) for word in text_words),
        corrections=corrections,
        corrected_query=_corrected_query(parse) if corrections else "",
    )


def _read_prices(parse: _Parse) -> tuple[Decimal | None, Decimal | None]:
    low: Decimal | None = None
    high: Decimal | None = None
    text = parse.original
    for kind, pattern in _PRICE_PATTERNS:
        for match in pattern.finditer(text):
            if any(s < match.end() and match.start() < e for s, e in parse.price_spans):
                continue
            groups = match.groups()
            first = _amount(groups[0], groups[1]) if groups[0] else _amount(groups[2], groups[3])
            if first is None or first < _MIN_PRICE_VALUE:
                continue
            if kind == "range":
                second = _amount(groups[2], groups[3])
                if second is None or second < _MIN_PRICE_VALUE:
                    continue
                low, high = min(first, second), max(first, second)
                label = f"₹{low:,.0f} – ₹{high:,.0f}"
            elif kind == "max":
                high = first
                label = f"Under ₹{first:,.0f}"
            else:
                low = first
                label = f"Over ₹{first:,.0f}"
            parse.price_spans.append((match.start(), match.end()))
            parse.chips.append(Chip("price", label, parse.remove_query([(match.start(), match.end())])))
    if low is not None and high is not None and low > high:
        low, high = high, low
    return low, high


def _join_compounds(parse: _Parse) -> None:
    # "t shirt" -> "tshirt": a lone letter glued to the next word, when the catalog knows the compound.
    words = parse.words
    i = 0
    while i < len(words) - 1:
        joined = words[i].norm + words[i + 1].norm
        if len(words[i].norm) == 1 and words[i].norm.isalpha() and parse.vocabulary.knows(joined):
            merged = Token(joined, words[i].token.start, words[i + 1].token.end)
            words[i : i + 2] = [_Word(merged, joined)]
        i += 1
    for word in words:
        word.norm = word.norm or word.token.norm


def _is_special(norm: str) -> bool:
    return (
        norm in _FILLER or norm in _AUDIENCE_WORDS or norm in _AUDIENCE_AFTER_FOR or norm in _SHADES
        or norm in _BASIC_COLOURS or norm in _TONES or norm in _LETTER_SIZES
    )


def _correct(parse: _Parse) -> None:
    for word in parse.words:
        if _is_special(word.norm) or word.norm in parse.vocabulary.colours:
            continue
        corrected = parse.vocabulary.correct(word.norm)
        if corrected:
            word.typed, word.norm = word.norm, corrected


def _claim(parse: _Parse, words: list[_Word], role: str, key: str, label: str) -> None:
    for word in words:
        word.role = role
    # "for" before an audience or a brand goes with it when the chip is removed ("kurta for women" -> "kurta").
    first = parse.words.index(words[0])
    spans = [(w.token.start, w.token.end) for w in words]
    if first > 0 and parse.words[first - 1].norm == "for" and parse.words[first - 1].role == "text":
        parse.words[first - 1].role = "filler"
        spans.append((parse.words[first - 1].token.start, parse.words[first - 1].token.end))
    parse.chips.append(Chip(key, label, parse.remove_query(spans)))


def _read_sizes(parse: _Parse) -> tuple[str, ...]:
    sizes: list[str] = []
    words = parse.words
    for i, word in enumerate(words):
        if word.role != "text":
            continue
        claimed: list[_Word] = []
        if word.norm == "size" and i + 1 < len(words) and words[i + 1].role == "text":
            value = words[i + 1].norm
            if value in _LETTER_SIZES or value.isdigit() or value == "free":
                claimed = [word, words[i + 1]]
        elif word.norm in ("uk", "eu") and i + 1 < len(words) and re.fullmatch(r"\d{1,2}", words[i + 1].norm):
            # Shoe sizes are stored as one word, "UK8".
            value, claimed = word.norm + words[i + 1].norm, [word, words[i + 1]]
        elif word.norm in _STANDALONE_SIZES or re.fullmatch(r"(?:uk|eu)\d{1,2}", word.norm):
            value, claimed = word.norm, [word]
        if claimed:
            size = "Free Size" if value == "free" else value.upper()
            sizes.append(size)
            _claim(parse, claimed, "size", "size", f"Size: {size}")
    return tuple(dict.fromkeys(sizes))


def _read_brands(parse: _Parse) -> tuple[str, ...]:
    brands: list[str] = []
    vocabulary = parse.vocabulary
    if not vocabulary.brands:
        return ()
    words = parse.words
    i = 0
    while i < len(words):
        found = None
        # Longest phrase first: "us polo assn kids" before "us polo assn".
        for length in range(min(5, len(words) - i), 0, -1):
            span = words[i : i + length]
            if any(w.role != "text" for w in span):
                continue
            key = " ".join(w.norm for w in span)
            names = vocabulary.brands.get(key)
            if names is None and length >= 2:
                # Two or more words may be the start of a brand's name ("us polo" -> U.S. Polo Assn. ...).
                names = vocabulary.brands_starting(key) or None
            if names and not (length == 1 and _is_special(key)):
                found = (span, names)
                break
        if found:
            span, names = found
            brands.extend(names)
            _claim(parse, span, "brand", "brand", f"Brand: {names[0] if len(names) == 1 else _title(span)}")
            i += len(span)
        else:
            i += 1
    return tuple(dict.fromkeys(brands))


def _title(words: list[_Word]) -> str:
    return " ".join(w.token.norm for w in words).title()


def _read_colours(parse: _Parse) -> tuple[str, ...]:
    known = _BASIC_COLOURS | set(_SHADES) | parse.vocabulary.colours
    colours: list[str] = []
    words = parse.words
    i = 0
    while i < len(words):
        word = words[i]
        claimed: list[_Word] = []
        name = ""
        if word.role == "text":
            pair = f"{word.norm} {words[i + 1].norm}" if i + 1 < len(words) and words[i + 1].role == "text" else ""
            if pair and pair in known:
                claimed, name = [word, words[i + 1]], pair
            elif pair and word.norm in _TONES and words[i + 1].norm in known:
                claimed, name = [word, words[i + 1]], words[i + 1].norm
            elif word.norm in known:
                claimed, name = [word], word.norm
        if claimed:
            accepted = [name, _SHADES.get(name, "")]
            colours.extend(c for c in accepted if c)
            label = " ".join(w.token.norm for w in claimed)
            _claim(parse, claimed, "colour", "colour", f"Colour: {label}")
            i += len(claimed)
        else:
            i += 1
    return tuple(dict.fromkeys(colours))


def _read_audiences(parse: _Parse) -> tuple[str, ...]:
    audiences: list[str] = []
    words = parse.words
    for i, word in enumerate(words):
        if word.role != "text":
            continue
        audience = _AUDIENCE_WORDS.get(word.norm)
        if audience is None and i > 0 and words[i - 1].norm == "for":
            audience = _AUDIENCE_AFTER_FOR.get(word.norm)
        if audience:
            audiences.extend(AUDIENCE_SCOPE[audience])
            _claim(parse, [word], "audience", "audience", f"For: {audience.title()}")
    return tuple(dict.fromkeys(audiences))


def _corrected_query(parse: _Parse) -> str:
    text = parse.original
    for word in sorted((w for w in parse.words if w.typed), key=lambda w: w.token.start, reverse=True):
        text = text[: word.token.start] + word.norm + text[word.token.end :]
    return text
