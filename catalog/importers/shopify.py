"""Shopify's product CSV export: one row per variant, rows sharing a Handle belong to one product, and only
the first row of a product carries its title, body, vendor and option names. Image-only rows are skipped."""
from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from django.utils.text import slugify

from catalog.importers.base import (
    Parsed, RowProblem, SourceRow, fit, parse_audience, parse_price, parse_stock, plain_text, text,
)
from catalog.services import ProductRecord, VariantRecord

_VARIANT_COLUMNS = ("Variant SKU", "Variant Price", "Option1 Value", "Option2 Value", "Option3 Value")
_GENDER_COLUMN = "Google Shopping / Gender"


def parse(rows: Iterable[SourceRow | RowProblem]) -> Iterator[Parsed]:
    groups: dict[str, list[SourceRow]] = {}
    for row in rows:
        if isinstance(row, RowProblem):
            yield row
            continue
        handle = text(row.data, "Handle")
        if not handle:
            yield RowProblem(row.line, "", "missing Handle")
            continue
        groups.setdefault(handle, []).append(row)
    for handle, group in groups.items():
        yield from _product(handle, group)


def _product(handle: str, group: list[SourceRow]) -> Iterator[Parsed]:
    head = next((row for row in group if text(row.data, "Title")), None)
    if head is None:
        yield RowProblem(group[0].line, handle, "no row of this product has a Title")
        return
    data = head.data
    try:
        audience = parse_audience(text(data, _GENDER_COLUMN)) or _audience_from_tags(text(data, "Tags"))
    except ValueError as error:
        yield RowProblem(head.line, handle, str(error))
        return
    option_names = [text(data, f"Option{n} Name").lower() for n in (1, 2, 3)]
    variants: list[VariantRecord] = []
    for row in group:
        if not any(text(row.data, column) for column in _VARIANT_COLUMNS):
            continue  # an extra image row
        try:
            variants.append(_variant(handle, row, option_names))
        except ValueError as error:
            yield RowProblem(row.line, handle, str(error))
    if not variants:
        yield RowProblem(head.line, handle, "no valid variant rows")
        return
    yield ProductRecord(
        external_id=f"shopify:{handle}",
        title=text(data, "Title"),
        brand=text(data, "Vendor") or "Unbranded",
        category_path=_category_path(text(data, "Product Category"), text(data, "Type"), audience),
        price=min(v.price for v in variants),
        variants=variants,
        description=plain_text(text(data, "Body (HTML)")),
        attributes=_attributes(text(data, "Tags")),
        audience=audience,
        colour=next((v.colour for v in variants if v.colour), ""),
        seo_title=fit(text(data, "SEO Title"), 60) or None,
        seo_description=fit(text(data, "SEO Description"), 155) or None,
        slug=handle,
        line=head.line,
    )


def _variant(handle: str, row: SourceRow, option_names: list[str]) -> VariantRecord:
    values = [text(row.data, f"Option{n} Value") for n in (1, 2, 3)]
    size = colour = ""
    for name, value in zip(option_names, values):
        if value == "Default Title":  # Shopify's placeholder option for a product without variants
            continue
        if "size" in name:
            size = value
        elif re.search(r"colou?r", name):
            colour = value
    options = [slugify(v) for v in values if v and v != "Default Title"]
    sku = text(row.data, "Variant SKU") or "-".join([handle, *options])
    if not text(row.data, "Variant Price"):
        raise ValueError(f"variant {sku}: missing Variant Price")
    return VariantRecord(
        sku=sku[:64],
        price=parse_price(text(row.data, "Variant Price")),
        size=size,
        colour=colour,
        stock=parse_stock(text(row.data, "Variant Inventory Qty")),
    )


def _attributes(tags: str) -> dict[str, list[str]]:
    tag_list = [tag.strip() for tag in tags.split(",") if tag.strip()]
    return {"tags": tag_list} if tag_list else {}


def _audience_from_tags(tags: str) -> str:
    words = {t.strip().lower() for t in tags.split(",")}
    for candidate in ("women", "men", "unisex", "girls", "boys", "kids"):
        if candidate in words:
            return parse_audience(candidate)
    return ""


def _category_path(taxonomy: str, kind: str, audience: str) -> tuple[str, ...]:
    """Type under the audience ("Women > Dresses"); without a Type, the last two levels of Shopify's product
    taxonomy ("Apparel & Accessories > Clothing > Dresses" -> "Clothing > Dresses")."""
    levels = [level.strip() for level in taxonomy.split(">") if level.strip()]
    if kind:
        parent = audience.title() if audience else (levels[-2] if len(levels) >= 2 else levels[0] if levels else "Shop")
        return (parent, kind)
    if len(levels) >= 2:
        return tuple(levels[-2:])
    return ("Shop", levels[0] if levels else "Other")
