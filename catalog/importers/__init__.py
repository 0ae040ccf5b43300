"""Catalog import: read a file in one of the known formats, turn its rows into product records, and upsert
them batch by batch (each batch one transaction), collecting the rows that could not be imported."""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.db import DatabaseError
from tqdm import tqdm

from catalog.importers import myntra, shopify, tabular
from catalog.importers.base import ImportFailed, Parsed, RowProblem, SourceRow, parse_mapping, read_csv, read_jsonl
from catalog.services import ProductRecord, RecordError, UpsertResult, products_upsert

Parser = Callable[[Iterable[SourceRow | RowProblem]], Iterator[Parsed]]
FORMATS: dict[str, tuple[str, Parser]] = {
    "myntra": ("csv", myntra.parse),
    "shopify": ("csv", shopify.parse),
    "csv": ("csv", tabular.parse),
    "jsonl": ("jsonl", tabular.parse),
}

__all__ = ["FORMATS", "ImportFailed", "ImportReport", "parse_mapping", "run_import"]


@dataclass
class ImportReport:
    result: UpsertResult = field(default_factory=UpsertResult)
    seconds: float = 0.0

    @property
    def errors(self) -> list[RecordError]:
        return sorted(self.result.errors, key=lambda e: (e.line or 0, e.key))


def run_import(
    *,
    path: str | Path,
    fmt: str,
    mapping: dict[str, str] | None = None,
    batch_size: int = 500,
    progress: bool = True,
) -> ImportReport:
    """Import the catalog file at `path`. Raises ImportFailed when the file as a whole is unusable; bad rows
    are reported in the returned report and the rest are imported."""
    if fmt not in FORMATS:
        raise ImportFailed(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    path = Path(path)
    if not path.is_file():
        raise ImportFailed(f"no such file: {path}")
    if batch_size < 1:
        raise ImportFailed("--batch-size must be at least 1")
    started = time.perf_counter()
    kind, parse = FORMATS[fmt]
    rows = read_csv(path, mapping=mapping) if kind == "csv" else read_jsonl(path, mapping=mapping)
    report = ImportReport()
    # The whole file is parsed first (a few MB at most for real catalogs), so the progress bar knows its end
    # and a product whose rows are spread over the file is still one record.
    records: list[ProductRecord] = []
    for item in parse(rows):
        if isinstance(item, RowProblem):
            report.result.errors.append(RecordError(item.line, item.key, item.reason))
        else:
            records.append(item)
    with tqdm(total=len(records), unit="product", desc=f"import {path.name}", disable=not progress) as bar:
        for start in range(0, len(records), batch_size):
            batch = records[start:start + batch_size]
            report.result.add(_upsert_batch(batch))
            bar.update(len(batch))
    report.seconds = time.perf_counter() - started
    return report


def _upsert_batch(batch: list[ProductRecord]) -> UpsertResult:
    try:
        return products_upsert(records=batch)
    except DatabaseError:
        # The batch rolled back as a whole; redo it one product at a time to find the rows the database
        # refuses, so they are reported and every other product still goes in.
        result = UpsertResult()
        for record in batch:
            try:
                result.add(products_upsert(records=[record]))
            except DatabaseError as error:
                result.errors.append(RecordError(record.line, record.external_id, f"database error: {error}"))
        return result
