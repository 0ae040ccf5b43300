"""manage.py evaluate_copywriter --catalog PATH [--limit N] [--batch-size 8] [--json]

Scores description writing on a CSV with the Myntra columns (products the model never saw, e.g. the
var/copywriter/held_out.csv that train_copywriter writes) for three systems in the same run: the active
fine-tuned version, the base model zero-shot and a template baseline. The last line (with --json) is
{"products": n, "finetuned": {...} | null, "zero_shot": {...}, "template": {...}, "descriptions_per_minute": x, ...}
where the throughput is the fine-tuned model's (the base model's when none is active) at the given batch size.
"""
import json
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from catalog.importers.base import ImportFailed
from copywriter import evaluation, generation
from copywriter.training import read_catalog


class Command(BaseCommand):
    help = "Evaluate the copywriter (fine-tuned, zero-shot, template) on a catalog CSV of held-out products."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--catalog", type=Path, required=True, help="CSV with the Myntra columns")
        parser.add_argument("--limit", type=int, default=None, help="score the first N products only")
        parser.add_argument("--batch-size", type=int, default=8)
        parser.add_argument("--json", action="store_true", help="print the metrics as one JSON line, last")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["catalog"]
        try:
            pairs = read_catalog(path)
        except (ImportFailed, OSError) as error:
            raise CommandError(f"{path}: {error}") from error
        if options["limit"] is not None:
            pairs = pairs[: max(0, options["limit"])]
        if not pairs:
            raise CommandError(f"{path} has no products with a description")
        brands = {pair.facts.brand for pair in pairs}
        batch = max(1, options["batch_size"])
        summary: dict[str, Any] = {"products": len(pairs)}
        version = generation.active_version()
        engines = {"zero_shot": generation.base_engine()}
        if version is not None:
            engines = {"finetuned": generation.finetuned_engine(version), **engines}
        throughput = None
        for name, engine in engines.items():
            with tqdm(total=len(pairs), desc=name, file=sys.stderr, disable=options["verbosity"] < 1) as bar:
                outputs = evaluation.run_model(pairs, engine, brands, batch, progress=bar.update)
            summary[name] = evaluation.score(pairs, outputs, brands)
            if throughput is None:
                throughput = round(len(pairs) / outputs.seconds * 60, 1)
        summary.setdefault("finetuned", None)
        template = evaluation.run_template(pairs)
        summary["template"] = evaluation.score(pairs, template, brands)
        summary["descriptions_per_minute"] = throughput
        summary["batch_size"] = batch
        summary["device"] = generation.device_name()
        summary["finetuned_version"] = version
        for name in ("finetuned", "zero_shot", "template"):
            if summary[name] is not None:
                self.stdout.write(f"{name}: " + ", ".join(f"{k} {v}" for k, v in summary[name].items()))
        if options["json"]:
            self.stdout.write(json.dumps(summary))
