"""Train the small demo models `make demo` serves, each through its app's own command.

The chatbot learns its intents from the examples shipped in the repository; the recommender learns from
the demo shoppers' events and refreshes their rows. The copywriter needs no training: it runs the base
SmolLM2 zero-shot until a fine-tuned version is activated.
"""
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

DEMO_TRAINING = [
    ("train_chatbot", [], {}),
    ("train_recommender", [], {"time_budget": 240}),
    ("refresh_recommendations", [], {"similar": True}),
]


class Command(BaseCommand):
    help = "Train the small demo models (chatbot intents, recommender) on the demo store."

    def handle(self, *args, **options) -> None:
        for index, (name, positional, keywords) in enumerate(DEMO_TRAINING, start=1):
            self.stdout.write(self.style.MIGRATE_HEADING(f"[{index}/{len(DEMO_TRAINING)}] {name}"))
            call_command(name, *positional, stdout=self.stdout, stderr=self.stderr, **keywords)
        self.stdout.write(self.style.SUCCESS(f"Demo models ready under {settings.MODEL_DIR}"))
