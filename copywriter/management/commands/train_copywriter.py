"""manage.py train_copywriter [--catalog PATH] [--minutes M] [--max-steps N] ...

LoRA-fine-tunes SmolLM2-135M-Instruct on (facts -> description) pairs from a Myntra-columns CSV or from the
imported products, keeps 1,000 products out (by hash; written to var/copywriter/held_out.csv), and registers
the adapters as a "copywriter" version with metrics.json, metrics.jsonl and loss.png (activated unless
--no-activate).
"""
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from copywriter.training import TrainOptions, train


class Command(BaseCommand):
    help = "Fine-tune the copywriter model (LoRA on SmolLM2) and register it as task 'copywriter'."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--catalog", type=Path, help="CSV with the Myntra columns (default: imported products)")
        parser.add_argument("--minutes", type=float, default=None, help="time budget; training stops when it is spent")
        parser.add_argument("--max-steps", type=int, default=400)
        parser.add_argument("--batch-size", type=int, default=4)
        parser.add_argument("--lr", type=float, default=1e-3)
        parser.add_argument("--rank", type=int, default=16)
        parser.add_argument("--layers", type=int, default=10, help="top blocks to adapt (of 30)")
        parser.add_argument("--max-len", type=int, default=192, help="tokens per example, prompt included")
        parser.add_argument("--held-out", type=int, default=1000, help="products kept out of training")
        parser.add_argument("--bf16", action="store_true", help="bf16 autocast on CPU (CUDA always uses it)")
        parser.add_argument("--device", default=None, help="auto|cpu|cuda (default: LLM_DEVICE)")
        parser.add_argument("--init-from", default=None, help="continue from this registered version's adapters")
        parser.add_argument("--seed", type=int, default=0, help="also picks which pairs a run trains on")
        parser.add_argument("--no-activate", action="store_true")
        parser.add_argument("--quiet", action="store_true", help="no progress bar")

    def handle(self, *args: Any, **options: Any) -> None:
        catalog: Path | None = options["catalog"]
        if catalog is not None and not catalog.is_file():
            raise CommandError(f"{catalog} does not exist")
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
        out_dir = Path(settings.VAR_DIR) / "copywriter" / "runs" / stamp
        out_dir.mkdir(parents=True, exist_ok=True)
        minutes = options["minutes"]
        try:
            report = train(TrainOptions(
                out_dir=out_dir, catalog=catalog, max_steps=options["max_steps"],
                time_budget_s=minutes * 60 if minutes else None, batch_size=options["batch_size"], lr=options["lr"],
                rank=options["rank"], adapted_layers=options["layers"], max_len=options["max_len"],
                held_out=options["held_out"], bf16=options["bf16"], device=options["device"], seed=options["seed"],
                activate=not options["no_activate"], progress=not options["quiet"], init_from=options["init_from"],
            ))
        except ValueError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"held out {options['held_out']} products -> {report.held_out_csv}")
        state = "registered" if options["no_activate"] else "registered and activated"
        self.stdout.write(self.style.SUCCESS(
            f"copywriter {report.version} {state}: {report.metrics['steps']} steps, "
            f"{report.metrics['train_examples_seen']} examples, {report.metrics['minutes']} min, "
            f"eval loss {report.metrics['eval_loss']}"
        ))
