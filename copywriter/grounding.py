"""The grounding check every generated text goes through, and the plain-text clean-up before it.

`check(text, source, known_brands)` lists the facts the text states that the source (the product's own facts,
never the merchant's instructions) does not: colours, materials, sizes, numbers, brands, and claims from a
lexicon ("waterproof", "organic", "warranty"...). A finding carries its character span so the review page can
highlight it. Matching is on normalised words (lower case, hyphens as spaces, grey/gray and similar spellings
folded), so "Off-White" in the facts grounds "off white" in the text, and "navy" is grounded by "Navy Blue".

`clean_output(text, kind)` turns model output into what may be stored: no markup, no label the model echoed,
whitespace tidied, and the kind's length limit enforced (SEO title <= 60, meta description <= 155...).
"""
from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from django.utils.html import strip_tags

from catalog.importers.myntra import OTHER, product_type

if TYPE_CHECKING:
    from copywriter.prompts import ProductFacts

# ------------------------------------------------------------------------------------------------ lexicons

COLOURS = frozenset({
    "black", "white", "off white", "grey", "charcoal", "silver", "gold", "rose gold", "copper", "bronze",
    "brown", "tan", "beige", "cream", "khaki", "camel", "coffee", "chocolate", "rust", "maroon", "burgundy",
    "wine", "red", "pink", "peach", "coral", "orange", "mustard", "yellow", "lime", "green", "olive",
    "sea green", "teal", "turquoise", "aqua", "mint", "blue", "navy", "navy blue", "royal blue", "sky blue",
    "cobalt", "indigo", "purple", "violet", "lavender", "lilac", "mauve", "magenta", "fuchsia", "nude",
    "taupe", "ivory", "champagne", "multi", "metallic", "fluorescent", "neon", "turquoise blue", "steel blue",
    "grey melange", "magenta pink", "rose", "crimson", "scarlet", "emerald", "sage", "ochre", "plum",
})
MATERIALS = frozenset({
    "cotton", "organic cotton", "polyester", "linen", "silk", "art silk", "wool", "woollen", "merino",
    "cashmere", "denim", "leather", "genuine leather", "faux leather", "suede", "nylon", "viscose", "rayon",
    "spandex", "elastane", "lycra", "satin", "chiffon", "georgette", "crepe", "velvet", "fleece", "khadi",
    "muslin", "modal", "acrylic", "canvas", "jute", "bamboo", "chambray", "corduroy", "tweed", "organza",
    "polycotton", "poly cotton", "pu", "synthetic", "rubber", "eva", "plastic", "metal", "brass", "steel",
    "stainless steel", "alloy", "sterling silver", "wood", "wooden", "ceramic", "porcelain", "glass", "marble",
    "terry", "microfibre", "chanderi", "tussar", "banarasi",
})
CLAIMS = frozenset({
    "waterproof", "water resistant", "water repellent", "windproof", "stain resistant", "wrinkle free",
    "crease free", "anti microbial", "antimicrobial", "anti bacterial", "antibacterial", "anti odour",
    "organic", "eco friendly", "sustainable", "recycled", "biodegradable", "vegan", "cruelty free", "handmade",
    "hand crafted", "handcrafted", "hypoallergenic", "dermatologically tested", "clinically proven", "spf",
    "uv protection", "sweat proof", "quick dry", "moisture wicking", "fireproof", "fire resistant",
    "shockproof", "scratch resistant", "non stick", "bpa free", "guaranteed", "guarantee", "warranty",
    "best selling", "bestseller", "best seller", "award winning", "certified", "lifetime", "free shipping",
    "free delivery", "discount", "sale", "limited edition", "percent", "bulletproof", "fade proof",
    "shrink proof", "machine washable", "hand wash only",
})
# Alternative spellings folded into one form before any comparison.
_FOLD = {
    "gray": "grey", "colored": "coloured", "color": "colour", "multicolour": "multi", "multicolor": "multi",
    "multicoloured": "multi", "multicolored": "multi", "golden": "gold", "microfiber": "microfibre",
    "woolen": "woollen", "offwhite": "off white", "fuschia": "fuchsia", "jewelry": "jewellery",
}
_SIZE = re.compile(
    r"\b(?:\d?x{1,4}[sl]|free size|one size|(?:uk|us|eu|euro)\s?\d{1,2}(?:\.5)?|size\s+\d{1,2}|"
    r"(?:small|medium|large) size)\b"
)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
# Spelled-out counts ("two pockets") state a number as surely as digits do. "one" is left out: it is mostly
# an article-like word ("one patch pocket" aside, "one-piece", "one of a kind").
_NUMBER_WORDS = frozenset({
    "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve", "twenty",
    "fifty", "hundred", "thousand",
})
_NUMBER_WORD_EXPRESSIONS = frozenset({"three quarter"})  # a sleeve length, not a count
# Brands that are ordinary words are only checked when written with the brand's own capitals, and not even
# then when they are this common ("Only", "Here").
_COMMON_WORDS = frozenset({
    "only", "and", "here", "now", "being", "rare", "classic", "basics", "style", "fashion", "true", "blue",
    "free", "people", "urban", "street", "home", "the", "trend", "life", "kids", "campus", "mast",
})
_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class Finding:
    """A fact the text states that the source does not: kind is colour/material/size/number/brand/claim."""

    kind: str
    text: str
    start: int
    end: int

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


# ------------------------------------------------------------------------------------------- normalising


def normalise(text: str) -> str:
    """Lower case, words only (hyphens, slashes and punctuation become spaces), spellings folded."""
    words = _WORD.findall(text.lower())
    return " ".join(_FOLD.get(word, word) for word in words)


def _phrase_in(phrase: str, normalised_text: str) -> bool:
    return re.search(rf"(?<![a-z0-9]){re.escape(phrase)}(?![a-z0-9])", normalised_text) is not None


def _word_spans(text: str) -> list[tuple[str, int, int]]:
    """(folded lower-case word, start, end) for every word of the original text."""
    return [(_FOLD.get(m.group(0), m.group(0)), m.start(), m.end()) for m in re.finditer(r"[a-z0-9]+", text.lower())]


def lexicon_hits(text: str, lexicon: Iterable[str]) -> list[tuple[str, int, int]]:
    """Longest-first matches of lexicon phrases over the text's words: (phrase, start, end) in the text."""
    words = _word_spans(text)
    phrases = {tuple(p.split()) for p in lexicon}
    longest = max((len(p) for p in phrases), default=0)
    hits, i = [], 0
    while i < len(words):
        for n in range(min(longest, len(words) - i), 0, -1):
            candidate = tuple(w for w, _, _ in words[i : i + n])
            if candidate in phrases:
                hits.append((" ".join(candidate), words[i][1], words[i + n - 1][2]))
                i += n
                break
        else:
            i += 1
    return hits


def _colour_grounded(phrase: str, source: str) -> bool:
    # "navy blue" is grounded by "navy" in the source, as "navy" is by "navy blue": same colour family.
    if _phrase_in(phrase, source):
        return True
    words = phrase.split()
    return len(words) > 1 and words[0] not in {"off", "rose", "sea", "sky", "royal"} and _phrase_in(words[0], source)


def _numbers(text: str) -> set[str]:
    return {_canonical_number(n) for n in _NUMBER.findall(text)}


def _canonical_number(number: str) -> str:
    # "1,499" and "1499.00" are the same figure.
    digits = number.replace(",", "")
    return digits[:-3] if digits.endswith(".00") else digits.rstrip("0").rstrip(".") if "." in digits else digits


# ------------------------------------------------------------------------------------------------ checking


def check(text: str, source: str, known_brands: Iterable[str] = ()) -> list[Finding]:
    """Every fact in `text` that `source` (the product's facts as text) does not state, in text order."""
    folded_source = normalise(source)
    findings: list[Finding] = []
    for kind, lexicon in (("colour", COLOURS), ("material", MATERIALS), ("claim", CLAIMS)):
        for phrase, start, end in lexicon_hits(text, lexicon):
            grounded = _colour_grounded(phrase, folded_source) if kind == "colour" else _phrase_in(phrase, folded_source)
            if not grounded:
                findings.append(Finding(kind, text[start:end], start, end))
    lowered = text.lower()
    for match in _SIZE.finditer(lowered):
        if not _phrase_in(normalise(match.group(0)), folded_source):
            findings.append(Finding("size", text[match.start():match.end()], match.start(), match.end()))
    source_numbers = _numbers(source)
    for match in _NUMBER.finditer(text):
        inside_size = any(f.kind == "size" and f.start <= match.start() < f.end for f in findings)
        if not inside_size and _canonical_number(match.group(0)) not in source_numbers:
            findings.append(Finding("number", match.group(0), match.start(), match.end()))
    shapes = [(s, e) for _, s, e in lexicon_hits(text, _NUMBER_WORD_EXPRESSIONS)]
    for word, start, end in _word_spans(text):
        if word in _NUMBER_WORDS and not any(s <= start < e for s, e in shapes) and not _phrase_in(word, folded_source):
            findings.append(Finding("number", text[start:end], start, end))
    findings.extend(_brand_findings(text, folded_source, known_brands))
    return sorted(_without_overlaps(findings), key=lambda f: f.start)


def without_ungrounded_clauses(text: str, source: str, known_brands: Iterable[str] = ()) -> str | None:
    """`text` less every clause (or bullet line) that states a fact `source` lacks, punctuation mended; None
    when the first one does, since what is left would not say what the product is, or when nothing is left.

    A clause ends at a comma, semicolon or sentence end: "Pink formal shirt, has a spread collar, and 1 patch
    pocket." loses only its last clause when the facts never mention pockets."""
    if "\n" in text:
        lines = text.splitlines()
        kept_lines = [line for line in lines if not check(line, source, known_brands)]
        return "\n".join(kept_lines) if kept_lines and kept_lines[0] == lines[0] else None
    parts = _CLAUSE_END.split(text.strip())
    kept: list[str] = []
    for index, part in enumerate(parts):
        if not check(part, source, known_brands):
            kept.append(part)
            continue
        if index == 0:
            return None
        ending = part[-1] if part[-1] in ".!?" else ""
        if ending and kept and kept[-1][-1] in ",;":
            kept[-1] = kept[-1][:-1] + ending  # the dropped clause ended the sentence: so does the one before
    mended = " ".join(kept).rstrip(" ,;:-")
    if mended and text.rstrip()[-1:] in (".", "!", "?") and mended[-1] not in ".!?":
        mended += "."
    return mended or None


def _brand_findings(text: str, folded_source: str, known_brands: Iterable[str]) -> list[Finding]:
    pattern, folded_forms = _brand_pattern(frozenset(known_brands))
    if pattern is None:
        return []
    return [
        Finding("brand", match.group(0), match.start(), match.end())
        for match in pattern.finditer(text)
        if not _phrase_in(folded_forms[match.group(0)], folded_source)
    ]


@lru_cache(maxsize=8)
def _brand_pattern(known_brands: frozenset[str]) -> tuple[re.Pattern[str] | None, dict[str, str]]:
    """One regex over every checkable brand form (a catalog has hundreds of brands), and each form's folded
    name. Forms are the brand as it writes itself and in title case, so "mango" the fruit is not "Mango" the
    label; brands that are ordinary words ("Only", "Here") are not checked at all."""
    forms: dict[str, str] = {}
    for brand in known_brands:
        brand = brand.strip()
        folded = normalise(brand)
        if len(brand) < 3 or not folded or folded in _COMMON_WORDS:
            continue
        # An all-lower-case brand ("with") is only recognised capitalised, or every "with" would be a brand.
        for form in {brand, brand.title()} if any(c.isupper() for c in brand) else {brand.title()}:
            forms[form] = folded
    if not forms:
        return None, {}
    alternatives = "|".join(re.escape(form) for form in sorted(forms, key=len, reverse=True))
    return re.compile(rf"(?<![\w&])(?:{alternatives})(?![\w&])"), forms


def _without_overlaps(findings: list[Finding]) -> list[Finding]:
    """One finding per stretch of text: the longest wins ("Stainless Steel" over "Steel")."""
    kept: list[Finding] = []
    for finding in sorted(findings, key=lambda f: (f.start, -(f.end - f.start))):
        if not any(k.start <= finding.start < k.end for k in kept):
            kept.append(finding)
    return kept


_COLOUR_MODIFIERS = frozenset({"off", "light", "dark", "pale", "deep", "bright", "sea", "sky", "royal", "rose"})


def coverage_facts(facts: ProductFacts) -> list[tuple[str, tuple[str, ...]]]:
    """(fact kind, ways of saying it) for the product's colour, type and materials: what good copy names. A
    fact counts as mentioned when any of its phrasings is; the type is the one the catalog reads from the
    title (with its synonyms)."""
    found: list[tuple[str, tuple[str, ...]]] = []
    if facts.colour:
        # "Navy Blue" is mentioned by "navy" or "blue"; "Off White" by "white", never by "off".
        colour = normalise(facts.colour)
        found.append(("colour", (colour, *(w for w in colour.split() if w not in _COLOUR_MODIFIERS))))
    kind = product_type(facts.title, brand=facts.brand)
    if kind is not OTHER:
        found.append(("type", (kind.label, kind.category, *kind.phrases)))
    for material, _, _ in lexicon_hits(facts.title, MATERIALS):
        found.append(("material", (material,)))
    return found


def coverage_counts(text: str, facts: ProductFacts) -> tuple[int, int]:
    """(facts mentioned, facts there are) of coverage_facts for one text."""
    wanted = coverage_facts(facts)
    return sum(any(mentions(text, phrase) for phrase in ways) for _, ways in wanted), len(wanted)


def naming_sentence(facts: ProductFacts) -> str:
    """One plain sentence naming the product's colour, materials and type from its facts alone ("A navy blue
    cotton shirt from Parx."): what completes a description that leaves one of them out."""
    kind = product_type(facts.title, brand=facts.brand)
    materials = [material for material, _, _ in lexicon_hits(facts.title, MATERIALS)]
    noun = kind.label.lower() if kind is not OTHER else "piece"
    phrase = " ".join(part for part in (facts.colour.lower(), *materials, noun) if part)
    return f"A {phrase} from {facts.brand}." if facts.brand else f"A {phrase}."


def mentions(text: str, phrase: str) -> bool:
    """Whether `text` mentions `phrase` (normalised words; a plural "s"/"es" on the last word is fine)."""
    folded, target = normalise(text), normalise(phrase)
    if not target:
        return False
    return any(_phrase_in(target + suffix, folded) for suffix in ("", "s", "es"))


# ---------------------------------------------------------------------------------------------- clean-up

# kind -> the most characters stored; descriptions are bounded by the requested length instead.
KIND_LIMITS = {"seo_title": 60, "seo_meta": 155, "promo": 140, "bullets": 700}
DESCRIPTION_LIMITS = {"short": 220, "medium": 420, "long": 900}
_LABEL = re.compile(
    r"^\s*(?:\*\*)?(?:product\s+)?(?:description|seo\s+title|title|meta\s+description|promo(?:\s+line)?|"
    r"tagline|features|bullets?)\s*(?:\*\*)?\s*:\s*",
    re.I,
)
_BULLET = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s*")
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)")
_CLAUSE_END = re.compile(r"(?<=[,;.!?])\s+")
_REPEATED_WORD = re.compile(r"\b(\w+)(?:[\s-]+\1\b){2,}", re.I)
_LEADING_CONJUNCTION = re.compile(r"^(?:and|or|with) ")


def clean_output(text: str, kind: str, length: str = "medium") -> str:
    """Plain text fit to store for `kind`: tags and entities gone, echoed labels and markdown emphasis dropped,
    whitespace tidied, and cut (at a sentence, clause or word boundary) to the kind's limit."""
    text = html.unescape(strip_tags(html.unescape(text)))
    text = text.replace("**", "").replace("__", "").replace("`", "")
    text = _LABEL.sub("", text.strip())
    if kind == "bullets":
        lines = [_BULLET.sub("", line).strip() for line in text.splitlines()]
        unique = list({normalise(line): line for line in reversed(lines) if line}.values())[::-1]
        return _fit_lines([f"- {line}" for line in unique][:6], KIND_LIMITS["bullets"])
    text = without_repeats(" ".join(text.split()))
    if kind in ("seo_title", "promo"):
        text = text.strip('"\u201c\u201d\' ')
    return cut_to(text, length_limit(kind, length))


def length_limit(kind: str, length: str = "medium") -> int:
    """The most characters stored for `kind` (descriptions: for the requested length)."""
    return KIND_LIMITS.get(kind) or DESCRIPTION_LIMITS.get(length, DESCRIPTION_LIMITS["medium"])


def without_repeats(text: str) -> str:
    """Small models fall into loops ("has a round neck, has a round neck, ..."): a word repeated three or more
    times running is said once, and a clause or sentence that repeats an earlier one is dropped."""
    text = _REPEATED_WORD.sub(r"\1", text)
    kept, seen = [], set()
    for part in _CLAUSE_END.split(text):
        key = _LEADING_CONJUNCTION.sub("", normalise(part))
        if key and key in seen:
            continue
        seen.add(key)
        kept.append(part)
    return " ".join(kept).rstrip(" ,;:-")


def cut_to(text: str, limit: int) -> str:
    """`text` if it fits; else its longest prefix within `limit` that ends a sentence, else a clause, else a word."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    sentence_ends = [m.end() for m in _SENTENCE_END.finditer(head)]
    if sentence_ends and sentence_ends[-1] >= limit // 3:
        return head[: sentence_ends[-1]].strip()
    clause = max(head.rfind(", "), head.rfind("; "), head.rfind(" - "))
    if clause >= limit // 2:
        return head[:clause].strip()
    word = head.rfind(" ")
    return (head[:word] if word > 0 else head).rstrip(" ,;:-")


def _fit_lines(lines: list[str], limit: int) -> str:
    kept: list[str] = []
    for line in lines:
        if len("\n".join([*kept, line])) > limit:
            break
        kept.append(line)
    return "\n".join(kept)
