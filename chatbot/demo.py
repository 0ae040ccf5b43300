"""The chatbot's part of `manage.py seed_demo` (settings.DEMO_SEEDERS): the demo FAQ entries, written for
Aisle (chatbot/data/faq.json)."""
from typing import TextIO

from chatbot.services import faq_entries_seed


def seed(*, stdout: TextIO | None = None) -> None:
    """Create the demo FAQ entries that are not there yet; entries staff have edited are left alone."""
    created = faq_entries_seed()
    if stdout is not None:
        stdout.write(f"Demo FAQ: {created} entries created.\n")
