"""`manage.py index_products [--full] [--ids 1 2 3]`: bring the search index up to date now."""
from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from tqdm import tqdm

from catalog.models import Product
from catalog.search.services import index_products


class Command(BaseCommand):
    help = "Index products whose text changed (keyword documents and MiniLM embeddings); --full re-indexes all."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--full", action="store_true", help="re-index every product, changed or not")
        parser.add_argument("--ids", type=int, nargs="+", help="only these product ids")

    def handle(self, *args: Any, full: bool, ids: list[int] | None, **options: Any) -> None:
        total = len(ids) if ids else Product.objects.count()
        with tqdm(total=total, unit="product", desc="index", disable=options["verbosity"] == 0) as bar:
            report = index_products(product_ids=ids, full=full, progress=bar.update)
        self.stdout.write(
            self.style.SUCCESS(
                f"checked {report.checked} products, indexed {report.indexed}; index generation {report.generation}"
            )
        )
