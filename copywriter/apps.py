from django.apps import AppConfig


class CopywriterConfig(AppConfig):
    name = "copywriter"
