"""Train the recommender on the shop's events and register (and by default activate) the new version."""
import json

import torch
from django.core.management.base import BaseCommand, CommandError, CommandParser

from recommender.services import recommender_train
from recommender.training import TrainingConfig
from shop.errors import ApplicationError


# Measured on Video.txt: one thread trains an epoch in about 10 s of CPU; two threads took about as long with
# cores to spare, and 12 times longer on a busy 2-core machine (OpenMP threads spin while waiting for a core).
THREADS_HELP = "torch CPU threads (default 1: the model's tensors are too small to share well)"


class Command(BaseCommand):
    help = "Train on shopper events (views, add-to-cart, purchases), stop early on validation NDCG@10, register."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--epochs", type=int, default=TrainingConfig.max_epochs)
        parser.add_argument("--time-budget", type=float, default=None, help="seconds of training at most")
        parser.add_argument("--patience", type=int, default=TrainingConfig.patience)
        parser.add_argument("--batch-size", type=int, default=TrainingConfig.batch_size)
        parser.add_argument("--text", action="store_true", help="join MiniLM text vectors of the products")
        parser.add_argument("--no-activate", action="store_true", help="register without making it live")
        parser.add_argument("--threads", type=int, default=1, help=THREADS_HELP)
        parser.add_argument("--device", default="cpu")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--json", action="store_true", help="print the metrics as JSON on the last line")

    def handle(self, *args, **options) -> None:
        torch.set_num_threads(options["threads"])
        training = TrainingConfig(
            max_epochs=options["epochs"], time_budget=options["time_budget"], patience=options["patience"],
            batch_size=options["batch_size"], device=options["device"], seed=options["seed"],
        )
        try:
            report = recommender_train(
                training=training, use_text=options["text"], activate=not options["no_activate"],
                progress=options["verbosity"] >= 1,
            )
        except ApplicationError as error:
            raise CommandError(error.message) from error
        full, sampled = report.metrics["full"], report.metrics["sampled"]
        state = "registered and activated" if report.activated else "registered (not active)"
        self.stdout.write(self.style.SUCCESS(f"recommender {report.version} {state} at {report.path}"))
        self.stdout.write(
            f"full ranking: HR@10 {full['model']['hr@10']} NDCG@10 {full['model']['ndcg@10']} "
            f"(popularity {full['popularity']['ndcg@10']}, co-occurrence {full['cooccurrence']['ndcg@10']}); "
            f"sampled: HR@10 {sampled['model']['hr@10']} NDCG@10 {sampled['model']['ndcg@10']}"
        )
        if options["json"]:
            self.stdout.write(json.dumps({"version": report.version, **report.metrics}))
