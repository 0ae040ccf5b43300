"""What every catalog format shares: reading rows with their line numbers, column mapping, value parsing,
and the problems a row can have."""
from __future__ import annotations

import csv
import html
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.utils.html import strip_tags

from catalog.models import Audience
from catalog.services import ProductRecord

# Descriptions can run to a few thousand characters; the csv module's default cap (128 KiB) is plenty, but a
# malformed quote can swallow the rest of a file into one field, which should be reported, not crash.
csv.field_size_limit(1_000_000)


class ImportFailed(Exception):
    """The file as a whole cannot be imported (missing, not UTF-8, a mapped column absent)."""


@dataclass(frozen=True)
class SourceRow:
    line: int  # the physical line the row starts on (the header is line 1)
    data: dict[str, Any]


@dataclass(frozen=True)
class RowProblem:
    line: int | None
    key: str
    reason: str


Parsed = ProductRecord | RowProblem


def read_csv(path: Path, *, mapping: dict[str, str] | None = None) -> Iterator[SourceRow]:
    """Rows of a UTF-8 CSV file (a BOM is fine) as dicts, with the line each starts on."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        try:
            header = reader.fieldnames or []
            missing = sorted(column for column in (mapping or {}).values() if column not in header)
            if missing:
                raise ImportFailed(f"column(s) {', '.join(missing)} named in --mapping are not in the file's header")
            start = reader.line_num + 1
            for data in reader:
                clean = {key: (value or "") for key, value in data.items() if key is not None}
                yield SourceRow(line=start, data=_mapped(clean, mapping))
                start = reader.line_num + 1
        except UnicodeDecodeError as error:
            raise ImportFailed(f"the file is not UTF-8 text (near line {reader.line_num + 1}): {error.reason}")
        except csv.Error as error:
            raise ImportFailed(f"CSV error near line {reader.line_num}: {error}")


def read_jsonl(path: Path, *, mapping: dict[str, str] | None = None) -> Iterator[SourceRow | RowProblem]:
    """One JSON object per line; blank lines are skipped, a line that is not an object is a problem."""
    with open(path, encoding="utf-8-sig") as handle:
        try:
            for number, text in enumerate(handle, start=1):
                if not text.strip():
                    continue
                try:
                    data = json.loads(text)
                except json.JSONDecodeError as error:
                    yield RowProblem(number, "", f"invalid JSON: {error.msg}")
                    continue
                if not isinstance(data, dict):
                    yield RowProblem(number, "", "expected a JSON object")
                    continue
                yield SourceRow(line=number, data=_mapped(data, mapping))
        except UnicodeDecodeError as error:
            raise ImportFailed(f"the file is not UTF-8 text: {error.reason}")


def _mapped(data: dict[str, Any], mapping: dict[str, str] | None) -> dict[str, Any]:
    if not mapping:
        return data
    return data | {field_name: data.get(column, "") for field_name, column in mapping.items()}


def parse_mapping(text: str | None) -> dict[str, str]:
    """"title=Name,price=Cost" -> {"title": "Name", "price": "Cost"}."""
    mapping: dict[str, str] = {}
    for pair in (text or "").split(","):
        if not pair.strip():
            continue
        field_name, sep, column = pair.partition("=")
        if not sep or not field_name.strip() or not column.strip():
            raise ImportFailed(f"bad --mapping entry {pair!r}: use field=column")
        mapping[field_name.strip()] = column.strip()
    return mapping


def text(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    return "" if value is None else str(value).strip()


def parse_price(raw: Any) -> Decimal:
    """A non-negative amount with at most two decimals; "1,499" and "₹ 1499.00" are fine."""
    cleaned = re.sub(r"[^\d.\-]", "", str(raw or ""))
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError(f"price {raw!r} is not a number") from None
    if not value.is_finite() or value < 0:
        raise ValueError(f"price {raw!r} is not a positive amount")
    return value.quantize(Decimal("0.01"))


def parse_stock(raw: Any) -> int | None:
    """A stock count; blank means "not given". Negative counts (oversold in the source) become zero."""
    if raw is None or str(raw).strip() == "":
        return None
    try:
        return max(int(Decimal(str(raw).strip())), 0)
    except InvalidOperation:
        raise ValueError(f"stock {raw!r} is not a whole number") from None


_AUDIENCES = {
    "women": Audience.WOMEN, "woman": Audience.WOMEN, "female": Audience.WOMEN, "ladies": Audience.WOMEN,
    "men": Audience.MEN, "man": Audience.MEN, "male": Audience.MEN,
    "unisex": Audience.UNISEX, "girls": Audience.GIRLS, "girl": Audience.GIRLS, "boys": Audience.BOYS,
    "boy": Audience.BOYS, "kids": Audience.KIDS, "unisex kids": Audience.KIDS, "children": Audience.KIDS,
}


def parse_audience(raw: Any) -> str:
    """"Women", "female", "Unisex Kids"... -> an Audience value; blank -> ""; anything else is an error."""
    value = str(raw or "").strip().lower()
    if not value:
        return ""
    if value not in _AUDIENCES:
        raise ValueError(f"unknown audience {raw!r}")
    return _AUDIENCES[value]


def plain_text(markup: str) -> str:
    """HTML (a Shopify body) as plain text: tags dropped, entities decoded, whitespace collapsed."""
    spaced = re.sub(r"(?i)<\s*(br|/p|/li|/h\d|/div)\b[^>]*>", "\n", markup)
    lines = (re.sub(r"[^\S\n]+", " ", line).strip() for line in html.unescape(strip_tags(spaced)).split("\n"))
    return "\n".join(line for line in lines if line)


def fit(value: str, limit: int) -> str:
    """Shorten to `limit` characters at a word boundary (SEO fields from sources that allow longer ones)."""
    if len(value) <= limit:
        return value
    cut = value[: limit - 1].rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:-") + "…"
