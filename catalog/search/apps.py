from django.apps import AppConfig


class SearchConfig(AppConfig):
    """Search is part of the catalog (catalog/search/) but an app of its own, labelled "search": its tables,
    migrations and task names keep that label."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "catalog.search"
    label = "search"
    verbose_name = "Search"
