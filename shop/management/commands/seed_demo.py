"""`manage.py seed_demo`: build the demo store by running each app's seeder in settings.DEMO_SEEDERS order."""
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils.module_loading import import_string


class Command(BaseCommand):
    help = "Seed the demo store (catalog, shoppers, histories, orders). Deterministic; safe to run again."

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        for dotted_path in settings.DEMO_SEEDERS:
            step_started = time.monotonic()
            import_string(dotted_path)(stdout=self.stdout)
            self.stdout.write(f"  {dotted_path} done in {time.monotonic() - step_started:.1f}s")
        self.stdout.write(self.style.SUCCESS(f"Demo store ready in {time.monotonic() - started:.1f}s."))
