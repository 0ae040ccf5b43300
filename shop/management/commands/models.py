"""`manage.py models list [TASK] | activate TASK VERSION | rollback TASK`: the model registry under MODEL_DIR."""
import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from llm_core.registry import Registry, RegistryError


class Command(BaseCommand):
    help = "List model versions, activate one, or roll a task back to its previous version (MODEL_DIR registry)."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        listing = actions.add_parser("list", help="every task's versions; * marks the active one")
        listing.add_argument("task", nargs="?", help="only this task")
        activate = actions.add_parser("activate", help="make VERSION the live model of TASK")
        activate.add_argument("task")
        activate.add_argument("version")
        rollback = actions.add_parser("rollback", help="re-activate the version that was live before")
        rollback.add_argument("task")

    def handle(self, *args, **options) -> None:
        registry = Registry(settings.MODEL_DIR)
        try:
            if options["action"] == "list":
                self._list(registry, options["task"])
            elif options["action"] == "activate":
                registry.activate(options["task"], options["version"])
                self.stdout.write(self.style.SUCCESS(f"{options['task']}: {options['version']} is active"))
            else:
                version = registry.rollback(options["task"])
                self.stdout.write(self.style.SUCCESS(f"{options['task']}: rolled back to {version}"))
        except RegistryError as error:
            raise CommandError(str(error)) from error

    def _list(self, registry: Registry, task: str | None) -> None:
        tasks = [task] if task else registry.tasks()
        if not tasks:
            self.stdout.write(f"no models under {registry.root}")
        for name in tasks:
            active = registry.active_version(name)
            self.stdout.write(f"{name} (active: {active or 'none'})")
            for version in registry.list_versions(name):
                marker = "*" if version == active else " "
                self.stdout.write(f"  {marker} {version}  {_metrics_line(registry, name, version)}")


def _metrics_line(registry: Registry, task: str, version: str) -> str:
    """A few headline numbers from metrics.json, or a note when it cannot be read."""
    path = registry.task_dir(task) / version / "metrics.json"
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return "(metrics.json unreadable)"
    numbers = {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    return " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in list(numbers.items())[:4])
