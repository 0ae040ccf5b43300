"""Refresh the stored recommendations now (what the beat schedule does every six hours)."""
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone
from tqdm import tqdm

from recommender import selectors
from recommender.services import active_days, recommendations_refresh, similar_products_refresh


class Command(BaseCommand):
    help = "Recompute every active shopper's top 50 (or --users ...); --similar also refreshes 'Similar items'."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--users", type=int, nargs="+", help="only these user ids")
        parser.add_argument("--chunk-size", type=int, default=256)
        parser.add_argument("--similar", action="store_true", help="also recompute text-embedding neighbours")

    def handle(self, *args, **options) -> None:
        users = options["users"] or selectors.active_shopper_ids(since=timezone.now() - timedelta(days=active_days()))
        with tqdm(total=len(users), unit="shopper", disable=options["verbosity"] < 1) as bar:
            result = recommendations_refresh(user_ids=users, chunk_size=options["chunk_size"], progress=bar.update)
        rate = result.shoppers / result.seconds if result.seconds else 0.0
        self.stdout.write(self.style.SUCCESS(
            f"{result.written} of {result.shoppers} shoppers refreshed by {result.strategy} "
            f"{result.model_version} in {result.seconds} s ({rate:.0f} shoppers/s)"
        ))
        if result.failed_chunks:
            self.stderr.write(f"{len(result.failed_chunks)} chunks failed; see the log")
        if options["similar"]:
            self.stdout.write(f"similar items: {similar_products_refresh()} products")
