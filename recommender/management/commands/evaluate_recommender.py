"""Offline evaluation on a dataset file: the published leave-one-out protocol, the model against popularity and
co-occurrence baselines; with --json the last line is the report (DESIGN.md)."""
import json
import sys

import torch
from django.core.management.base import BaseCommand, CommandError, CommandParser

from recommender.artifacts import save_model
from recommender.data import FORMATS
from recommender.offline import VALIDATION_USERS, OfflineRun, run_offline_evaluation
from recommender.training import TrainingConfig


# Measured on Video.txt: one thread trains an epoch in about 10 s of CPU; two threads took about as long with
# cores to spare, and 12 times longer on a busy 2-core machine (OpenMP threads spin while waiting for a core).
THREADS_HELP = "torch CPU threads (default 1: the model's tensors are too small to share well)"
TRAINING_SECONDS = 14 * 60


class Command(BaseCommand):
    help = "Train on a dataset's leave-one-out training part (or load --model) and report HR@10 / NDCG@10."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dataset", required=True, help="interaction file")
        parser.add_argument("--format", required=True, choices=FORMATS, dest="fmt",
                            help="pairs: 'user item' per line; lines: 'user item1 item2 ...' per line; recbole: a "
                                 "RecBole sequential .inter file; reviews: Amazon review JSON lines (.json, .gz or .zip)")
        parser.add_argument("--protocol", default="sampled", choices=["sampled", "full"])
        parser.add_argument("--model", help="a saved model directory to evaluate instead of training one")
        parser.add_argument("--save", help="save the trained model to this directory (for a later --model run)")
        parser.add_argument("--lr", type=float, default=TrainingConfig.lr)
        parser.add_argument("--patience", type=int, default=TrainingConfig.patience)
        parser.add_argument("--item-text", help="TSV 'item_id<TAB>text': join MiniLM text vectors to the items")
        parser.add_argument("--epochs", type=int, default=TrainingConfig.max_epochs, help="most epochs to train")
        parser.add_argument("--time-budget", type=float, default=TRAINING_SECONDS,
                            help="seconds of training at most (default 14 minutes: the issue's 15 less data preparation, "
                                 "the blend fit and the report); 0 = no limit")
        parser.add_argument("--loss", default=TrainingConfig.loss, choices=["softmax", "bce", "gbce"])
        parser.add_argument("--negatives", type=int, default=TrainingConfig.negatives)
        parser.add_argument("--batch-size", type=int, default=TrainingConfig.batch_size)
        parser.add_argument("--input-replacement", type=float, default=TrainingConfig.input_replacement,
                            help="probability that an input item is swapped for a random one (SSE regulariser)")
        parser.add_argument("--dim", type=int, default=None, help="embedding width (default from the data)")
        parser.add_argument("--max-len", type=int, default=None)
        parser.add_argument("--dropout", type=float, default=None)
        parser.add_argument("--threads", type=int, default=1, help=THREADS_HELP)
        parser.add_argument("--device", default="cpu")
        parser.add_argument("--max-users", type=int, default=10_000, help="test users scored at most")
        parser.add_argument("--validation-users", type=int, default=VALIDATION_USERS,
                            help="users whose validation item is kept for early stopping (the others' train)")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--json", action="store_true", help="print the report as JSON on the last line")

    def handle(self, *args, **options) -> None:
        torch.set_num_threads(options["threads"])
        overrides = {name: options[key] for name, key in (("dim", "dim"), ("max_len", "max_len"), ("dropout", "dropout"))
                     if options[key] is not None}
        try:
            training = TrainingConfig(
                loss=options["loss"], negatives=options["negatives"], batch_size=options["batch_size"],
                max_epochs=options["epochs"], time_budget=options["time_budget"] or None, device=options["device"],
                seed=options["seed"], lr=options["lr"], patience=options["patience"],
                input_replacement=options["input_replacement"],
            )
        except ValueError as error:
            raise CommandError(str(error)) from error
        run = OfflineRun(
            dataset=options["dataset"], fmt=options["fmt"], protocol=options["protocol"], seed=options["seed"],
            model_path=options["model"], model_config=overrides, training=training, max_users=options["max_users"],
            validation_users=options["validation_users"],
            item_text=options["item_text"],
        )
        embed = None
        if options["item_text"]:
            from llm_core.embeddings import embed
        progress = options["verbosity"] >= 1 and sys.stderr.isatty()
        try:
            report, fitted, split = run_offline_evaluation(run, progress=progress, embed=embed)
        except (OSError, ValueError) as error:
            raise CommandError(str(error)) from error
        if options["save"] and fitted.result is not None:
            save_model(fitted.model, options["save"], split.data.item_ids,
                       extra={"blend_weight": fitted.blend_weight, "training": training.to_dict(),
                              "train_seconds": fitted.train_seconds, "best_epoch": fitted.result.best_epoch,
                              "epochs": len(fitted.result.history)})
        # The documented keys first, in the documented order; then what else a reader may want.
        ordered = {key: report[key] for key in ("dataset", "protocol", "users", "model", "popularity", "cooccurrence", "train_seconds")}
        ordered |= {key: value for key, value in report.items() if key not in ordered}
        if fitted.result is not None:
            ordered["best_epoch"] = fitted.result.best_epoch
            ordered["epochs"] = len(fitted.result.history)
        if options["json"]:
            self.stdout.write(json.dumps(ordered))
        else:
            for name in ("model", "model_only", "popularity", "cooccurrence"):
                metrics = ordered[name]
                self.stdout.write(f"{name:>13}: HR@10 {metrics['hr@10']:.4f}  NDCG@10 {metrics['ndcg@10']:.4f}")
            self.stdout.write(f"{ordered['users']} users, {ordered['protocol']} protocol, trained {ordered['train_seconds']} s")
