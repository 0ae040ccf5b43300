"""What the model is told: the product's own facts, and the kind, tone and length of copy wanted.

A prompt is built from `ProductFacts` alone (title, brand, category, attributes, variants, price), whether they
come from a stored product or a catalog file's row, so training, evaluation and the shop ask the same way. The
merchant's free-text instructions are sanitised and framed as style guidance; they never enter the facts the
grounding check compares against, so an instruction cannot make an invented claim pass.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.utils.html import strip_tags

from catalog.models import Product
from catalog.services import ProductRecord

KINDS = {
    "description": "a product description",
    "promo": "a short promotional line (one sentence, at most 140 characters)",
    "seo_title": "an SEO page title (at most 60 characters)",
    "seo_meta": "an SEO meta description (one or two sentences, at most 155 characters)",
    "bullets": "a list of 3 to 5 feature bullets, one per line, each starting with '- '",
}
TONES = ("neutral", "playful", "premium", "technical")
LENGTHS = {"short": "one sentence", "medium": "two or three sentences", "long": "a full paragraph"}
# Short on purpose: every prompt token is paid for on every generation and every training example.
SYSTEM_PROMPT = "You write shop copy. Use only the given facts; invent no materials, colours, sizes or claims."
# Attributes that are bookkeeping or copy we published ourselves, not facts about the product.
_NOT_FACTS = frozenset({"images", "promo_line", "features"})
_INSTRUCTION_LIMIT = 300
# Phrases that try to steer the model away from its task rather than style the copy.
_OVERRIDE = re.compile(
    r"(ignore|disregard|forget)\s+(all|any|the|previous|above|prior)[^.\n]*|system\s*prompt|<\|[^|]*\|>|"
    r"you are now[^.\n]*",
    re.I,
)


@dataclass(frozen=True)
class ProductFacts:
    """Everything the copy may state about one product."""

    title: str
    brand: str
    category: str = ""  # "Men > Shirts"
    audience: str = ""
    colour: str = ""
    attributes: tuple[tuple[str, str], ...] = ()
    sizes: tuple[str, ...] = ()
    colours: tuple[str, ...] = ()  # variant colours other than the primary one
    price: Decimal | None = None
    currency: str = "INR"

    def lines(self) -> list[tuple[str, str]]:
        """(label, value) rows in prompt order; empty values are left out."""
        # The audience is usually the category's first level ("Men > Shirts"); then it is not repeated.
        audience = "" if self.category.lower().startswith(self.audience.lower()) else self.audience
        rows = [("Title", self.title), ("Brand", self.brand), ("Category", self.category),
                ("For", audience), ("Colour", self.colour)]
        rows += [(name.replace("_", " ").capitalize(), value) for name, value in self.attributes]
        rows += [("Also in", ", ".join(self.colours)), ("Sizes", ", ".join(self.sizes))]
        if self.price is not None:
            rows.append(("Price", f"{self.currency} {self.price.normalize():f}"))
        return [(label, value) for label, value in rows if value]

    def source_text(self) -> str:
        """The facts as one text: what the grounding check compares generated copy against."""
        return "\n".join(f"{label}: {value}" for label, value in self.lines())

    def attribute(self, name: str) -> str:
        return dict(self.attributes).get(name, "")


def _attribute_pairs(attributes: object) -> tuple[tuple[str, str], ...]:
    if not isinstance(attributes, dict):
        return ()
    return tuple(
        (str(name), _clean_value(value))
        for name, value in attributes.items()
        if name not in _NOT_FACTS and isinstance(value, (str, int, float)) and str(value).strip()
    )


def _clean_value(value: object) -> str:
    return " ".join(strip_tags(str(value)).split())[:200]


def facts_from_product(product: Product, *, category_path: Iterable[str] = ()) -> ProductFacts:
    """Facts of a stored product; its variants must be loaded (prefetched) by the caller's selector."""
    variants = [v for v in product.variants.all() if v.is_active]
    sizes = tuple(dict.fromkeys(v.size for v in variants if v.size))
    colours = tuple(dict.fromkeys(v.colour for v in variants if v.colour and v.colour.lower() != product.colour.lower()))
    path = list(category_path) or [product.category.name]
    return ProductFacts(
        title=_clean_value(product.title), brand=_clean_value(product.brand), category=" > ".join(path),
        audience=product.get_audience_display() if product.audience else "", colour=_clean_value(product.colour),
        attributes=_attribute_pairs(product.attributes), sizes=sizes, colours=colours, price=product.price,
        currency=product.currency,
    )


def facts_from_record(record: ProductRecord) -> ProductFacts:
    """Facts of a catalog file's row, as the importer parsed it (training and evaluation read files this way)."""
    sizes = tuple(dict.fromkeys(v.size for v in record.variants if v.size))
    audience = record.audience.capitalize() if record.audience else ""
    return ProductFacts(
        title=_clean_value(record.title), brand=_clean_value(record.brand), category=" > ".join(record.category_path),
        audience=audience, colour=_clean_value(record.colour), attributes=_attribute_pairs(record.attributes),
        sizes=sizes, price=record.price, currency=record.currency,
    )


def sanitise_instructions(text: str) -> str:
    """Merchant instructions fit for a prompt: plain text, one line, no control or special-token strings, no
    attempts to override the task, at most 300 characters."""
    text = unicodedata.normalize("NFKC", strip_tags(text or ""))
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C" or ch in "\n\t")
    text = _OVERRIDE.sub(" ", text)
    return " ".join(text.split())[:_INSTRUCTION_LIMIT]


def build_messages(
    facts: ProductFacts, *, kind: str, tone: str = "neutral", length: str = "medium", instructions: str = ""
) -> list[dict[str, str]]:
    """The chat messages (system, user) asking for one piece of copy about one product."""
    if kind not in KINDS or tone not in TONES or length not in LENGTHS:
        raise ValueError(f"unknown kind/tone/length: {kind!r}, {tone!r}, {length!r}")
    ask = f"Write {KINDS[kind]}; tone: {tone}"
    if kind == "description":
        ask += f"; length: {LENGTHS[length]}"
    parts = [ask + ".", facts.source_text()]
    style = sanitise_instructions(instructions)
    if style:
        parts.append(f"Style note from the merchant (style only, not a source of facts): {style}")
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": "\n".join(parts)}]


def length_of(text: str) -> str:
    """The length bucket a description of this many characters falls in (how training labels its targets)."""
    size = len(text)
    return "short" if size < 110 else "medium" if size < 260 else "long"
