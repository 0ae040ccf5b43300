"""Plain CSV or JSON Lines with our own field names (or others, renamed with --mapping field=column).

Fields: external_id, sku, title, brand, category ("Women > Dresses"), description, price, currency, colour,
audience, size, stock, seo_title, seo_description, attributes (a JSON object). Rows sharing an external_id
are variants of one product; without an external_id each row is its own product, keyed by its SKU."""
from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

from django.utils.text import slugify

from catalog.importers.base import Parsed, RowProblem, SourceRow, parse_audience, parse_price, parse_stock, text
from catalog.services import ProductRecord, VariantRecord

REQUIRED = ("title", "brand", "category", "price")


def parse(rows: Iterable[SourceRow | RowProblem]) -> Iterator[Parsed]:
    groups: dict[str, list[SourceRow]] = {}
    for row in rows:
        if isinstance(row, RowProblem):
            yield row
            continue
        key = text(row.data, "external_id") or text(row.data, "sku")
        if not key:
            yield RowProblem(row.line, "", "missing external_id and sku (one is needed to match the row again)")
            continue
        groups.setdefault(key, []).append(row)
    for key, group in groups.items():
        yield from _product(key, group)


def _product(key: str, group: list[SourceRow]) -> Iterator[Parsed]:
    head = group[0]
    data = head.data
    missing = [name for name in REQUIRED if not text(data, name)]
    if missing:
        yield RowProblem(head.line, key, f"missing {', '.join(missing)}")
        return
    try:
        audience = parse_audience(text(data, "audience"))
        attributes = _attributes(data.get("attributes"))
    except ValueError as error:
        yield RowProblem(head.line, key, str(error))
        return
    variants: list[VariantRecord] = []
    for row in group:
        try:
            variants.append(_variant(key, row, multiple=len(group) > 1))
        except ValueError as error:
            yield RowProblem(row.line, key, str(error))
    if not variants:
        return
    seo_title, seo_description = text(data, "seo_title"), text(data, "seo_description")
    yield ProductRecord(
        external_id=key,
        title=text(data, "title"),
        brand=text(data, "brand"),
        category_path=tuple(part.strip() for part in re.split(r"\s*[>/]\s*", text(data, "category")) if part.strip()),
        price=min(v.price for v in variants),
        variants=variants,
        description=text(data, "description"),
        attributes=attributes,
        audience=audience,
        colour=text(data, "colour") or next((v.colour for v in variants if v.colour), ""),
        currency=(text(data, "currency") or "INR").upper(),
        seo_title=seo_title or None,
        seo_description=seo_description or None,
        line=head.line,
    )


def _variant(key: str, row: SourceRow, *, multiple: bool) -> VariantRecord:
    size, colour = text(row.data, "size"), text(row.data, "colour")
    sku = text(row.data, "sku")
    if not sku:
        # Derived from the key and the options, so the same row finds the same variant next time.
        suffix = "-".join(slugify(v) for v in (colour, size) if v)
        if multiple and not suffix:
            raise ValueError("rows of one product need a sku, size or colour to tell them apart")
        sku = f"{key}-{suffix}" if suffix else key
    if not text(row.data, "price"):
        raise ValueError(f"variant {sku}: missing price")
    return VariantRecord(
        sku=sku,
        price=parse_price(text(row.data, "price")),
        size=size,
        colour=colour,
        stock=parse_stock(text(row.data, "stock")),
    )


def _attributes(raw: Any) -> dict[str, Any]:
    if raw in (None, ""):
        return {}
    if isinstance(raw, dict):
        return raw
    try:
        value = json.loads(str(raw))
    except json.JSONDecodeError:
        raise ValueError("attributes is not valid JSON") from None
    if not isinstance(value, dict):
        raise ValueError("attributes must be a JSON object")
    return value
