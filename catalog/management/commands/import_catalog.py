"""manage.py import_catalog PATH --format myntra|shopify|csv|jsonl [--mapping field=column,...] [--batch-size N]"""
from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from catalog.importers import FORMATS, ImportFailed, parse_mapping, run_import

_SHOWN_ERRORS = 50


class Command(BaseCommand):
    help = (
        "Import a catalog file. Upserts by external id and SKU, so running it again changes nothing; bad rows are "
        "reported with their line numbers and the rest are imported."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="the file to import")
        parser.add_argument("--format", dest="fmt", choices=sorted(FORMATS), default="csv", help="the file's format")
        parser.add_argument(
            "--mapping", default="", help="rename columns: field=column,... (e.g. title=Name,price=Cost)"
        )
        parser.add_argument("--batch-size", type=int, default=500, help="products per transaction (default 500)")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args: Any, path: str, fmt: str, mapping: str, batch_size: int, **options: Any) -> None:
        try:
            report = run_import(
                path=path,
                fmt=fmt,
                mapping=parse_mapping(mapping),
                batch_size=batch_size,
                progress=not options["no_progress"] and options["verbosity"] > 0,
            )
        except ImportFailed as error:
            raise CommandError(str(error)) from error
        result = report.result
        for error in report.errors[:_SHOWN_ERRORS]:
            where = f"line {error.line}" if error.line else "file"
            self.stderr.write(f"{where}: {error.key + ': ' if error.key else ''}{error.reason}")
        if len(report.errors) > _SHOWN_ERRORS:
            self.stderr.write(f"... and {len(report.errors) - _SHOWN_ERRORS} more bad rows")
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {path} ({fmt}) in {report.seconds:.1f}s: {result.created} created, "
                f"{result.updated} updated, {result.unchanged} unchanged, {len(report.errors)} bad rows skipped; "
                f"variants: {result.variants_created} created, {result.variants_updated} updated."
            )
        )
