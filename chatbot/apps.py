import logging
import os
import threading

from django.apps import AppConfig
from django.conf import settings

logger = logging.getLogger(__name__)


def _warm() -> None:
    from chatbot.replies import warm_generation

    try:
        warm_generation()
    except Exception:  # a worker that cannot load the model still serves the template replies
        logger.exception("warming the chat generation model failed")


class ChatbotConfig(AppConfig):
    name = "chatbot"

    def ready(self) -> None:
        # Web workers set CHATBOT_WARM_AT_START (setting or environment) so the wording model and its prompt
        # cache load at start, in the background, instead of during a shopper's first streamed reply.
        # Off by default: tests, manage.py commands and Celery workers have no use for it.
        warm = getattr(settings, "CHATBOT_WARM_AT_START", os.environ.get("CHATBOT_WARM_AT_START", "") == "1")
        if warm:
            threading.Thread(target=_warm, name="chatbot-warm", daemon=True).start()
