"""The Celery app. With no broker configured, tasks run in-process (CELERY_TASK_ALWAYS_EAGER in settings)."""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")

app = Celery("shop")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
